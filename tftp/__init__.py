"""TFTP: packet codec, routes and the read-only server."""
