"""The mlws command line."""
