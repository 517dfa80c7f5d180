"""Forms of the account pages: sign-up (with a unique email) and licence acceptance."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

User = get_user_model()


class RegistrationForm(UserCreationForm):
    """Username, email and password; the email must not belong to another account.

    Password reset mails every account with the address, so one address means one account.
    """

    email = forms.EmailField(
        label=_("Email"),
        max_length=254,
        help_text=_("Used only to reset your password and to tell you about access requests."),
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"]).strip()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                _("An account with this email address already exists."), code="duplicate_email"
            )
        return email


class LicenceAcceptForm(forms.Form):
    """One required box: the member has read the licence and accepts it."""

    accept = forms.BooleanField(
        label=_("I have read the licence above and accept it."),
        required=True,
        error_messages={"required": _("Tick the box to accept the licence.")},
    )
