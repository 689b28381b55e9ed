"""pxelinux / syslinux.efi and iPXE: the syslinux.cfg parser and the boot-file renderers (pure)."""
