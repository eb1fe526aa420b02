"""mlws's policy pack: ML web service guardrails as ``pulumi_policy`` policies (docs/policy.md)."""
