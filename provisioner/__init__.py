"""provisioner: a PXE / network provisioning server for bare-metal boxes."""

__version__ = "0.1.0"
