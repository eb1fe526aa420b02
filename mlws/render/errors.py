"""Errors of ``mlws render``; each message is one line meant for the user."""

from __future__ import annotations


class RenderError(Exception):
    """Base of the errors below."""


class ProjectError(RenderError):
    """The folder is not a Python Pulumi project this tool can run, or its config is unreadable."""


class ProgramError(RenderError):
    """The program failed under mocks; the message names the error and where it was raised."""
