"""Media: release images, instance bundles, uploads, streaming, boot environment."""
