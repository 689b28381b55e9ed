"""``python -m provisioner.dhcp``: a thin wrapper over :func:`provisioner.cli.daemons.dhcp_main`
(the command-line edge; the server itself is built by :mod:`provisioner.daemons`)."""

from provisioner.cli.daemons import dhcp_main

if __name__ == "__main__":
    dhcp_main()
