"""The scoring server baked into every mlws image. It never imports pulumi."""
