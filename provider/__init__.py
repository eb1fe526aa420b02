"""The mlws Pulumi provider plugin: components for every Pulumi language, plus custom resources."""
