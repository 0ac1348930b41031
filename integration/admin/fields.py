"""Form fields the admin pages share."""
from django import forms


class SecretField(forms.CharField):
    """A secret typed into the admin. Never rendered back (the page would hold it); left
    blank, the form keeps the stored one. So blank, or the stored value typed again, is no
    change: the admin's history does not say the secret changed at every save."""

    def __init__(self, *, attrs=None, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", True)
        kwargs["widget"] = forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password", **(attrs or {})})
        super().__init__(**kwargs)

    def has_changed(self, initial, data):
        value = self.to_python(data)
        return bool(value) and value != (initial or "")
