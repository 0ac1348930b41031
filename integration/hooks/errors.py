"""The one error a callback can end in before anything is stored."""


class Refused(Exception):
    """A callback that is not accepted. `errors` maps each offending parameter (or "source",
    "action", "body") to a list of messages; `status` is the HTTP status of the answer.
    Raised before any row is written, or inside the transaction that is then rolled back."""

    def __init__(self, status: int, errors: dict):
        super().__init__(status, errors)
        self.status = status
        self.errors = {key: [str(m) for m in (msgs if isinstance(msgs, list | tuple) else [msgs])]
                       for key, msgs in errors.items()}
