"""Entry point of ``pulumi preview --policy-pack policy``: serves the mlws guardrails."""

from mlws_guardrails.policies import POLICIES
from pulumi_policy import PolicyPack

PolicyPack(name="mlws-guardrails", policies=POLICIES)
