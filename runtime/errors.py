"""The one error hierarchy. Loops catch the recoverable types by name; the CLI prints
any :class:`HivemindError` as one clear line (what happened, the valid choices, the fix)
and exits 2, while anything else is a bug and keeps its traceback."""


class HivemindError(Exception):
    """Base of every error Hivemind raises on purpose."""


class SettingsInvalid(HivemindError):
    """An environment variable or config value cannot be parsed."""


class BrokerUnavailable(HivemindError):
    """The embedded broker cannot be started, or a configured Kafka cannot be reached."""


class DeliveryNotConfirmed(BrokerUnavailable):
    """The broker did not confirm a produced record: it is not delivered (send it again)."""


class ContractViolation(HivemindError):
    """A record does not decode or does not satisfy its schema."""


class CommitConflict(HivemindError):
    """Another writer committed offsets for a partition this writer thought it owned."""


class SettingsFileInvalid(HivemindError):
    """A Claude Code settings file is not valid JSON; Hivemind refuses to rewrite it."""
