"""fpack's own example project: a small photo service, written once against the portable API."""
