"""The one secrets detector: the hook, the SDK and the codifier's guard call it."""
