"""mlws: deploy ML models as authenticated scoring web services, declaratively, with Pulumi.

``mlws.runtime`` is the scoring server every image runs, ``mlws.components`` the Pulumi components,
``mlws.provider`` the Pulumi provider plugin, ``mlws.cli`` the ``mlws`` command.
"""

__version__ = "0.1.0"
