"""``python -m tftp``: a thin wrapper over :func:`provisioner.cli.daemons.tftp_main`
(the command-line edge; the server itself is built by :mod:`provisioner.daemons`)."""

from provisioner.cli.daemons import tftp_main

if __name__ == "__main__":
    tftp_main()
