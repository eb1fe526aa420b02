"""Pulumi ComponentResources that deploy mlws scoring services, with their config models."""
