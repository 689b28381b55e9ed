"""``python -m provisioner.dns``: a thin wrapper over :func:`provisioner.cli.daemons.dns_main`
(the command-line edge; the server itself is built by :mod:`provisioner.daemons`)."""

from provisioner.cli.daemons import dns_main

if __name__ == "__main__":
    dns_main()
