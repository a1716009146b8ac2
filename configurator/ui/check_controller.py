"""The server check and Detect Settings, as the main window runs them.

The window decides nothing here beyond wiring: this controller chooses what
a check tests (the stored settings, or the form's unsaved values), opens the
modeless views on first use, and puts their findings where they belong --
saved at once in Read-only mode, put into the form in Write and Edit mode so
that Submit saves them with the rest.  It is created on the first Test or
Detect; the views, the mail code behind them and the audit trail's module
still load only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from configurator import model
from configurator.errors import ConflictError, StoreError
from configurator.ui import wording
from configurator.ui.host import bring_up
from configurator.ui.modes import Mode, Source
from configurator.ui.session import NO_TEST

if TYPE_CHECKING:
    from configurator.mail import CheckResult
    from configurator.ui.check_dialog import CheckDialog, CheckRun
    from configurator.ui.detect import DetectChoice, DetectDialog, DetectRequest
    from configurator.ui.host import Host

TESTING_FORM = "the values in the form (not saved)"
TESTING_STORED = "the stored settings"


class CheckController:
    """Starts checks and detections for ``window`` and applies what they find."""

    def __init__(self, window: Host) -> None:
        self.window = window
        self.session = window.session
        self.check_dialog: CheckDialog | None = None
        self.detect_dialog: DetectDialog | None = None

    # -- the server check ----------------------------------------------------

    def settings_to_test(self) -> tuple[model.Settings, str] | None:
        """What Test checks now: the stored settings, or the form's values if valid.

        Invalid form values are shown beside their fields, as by Submit, and
        nothing is tested.  An empty password in Edit mode means the stored one.
        """
        window, session = self.window, self.session
        source = session.view.test
        if source is Source.STORED and session.stored is not None:
            return session.stored.settings, TESTING_STORED
        if source is not Source.FORM:
            return None
        try:
            settings = model.build(window.form.values(), session.base)
        except model.ValidationError as exc:
            window.form.set_errors(exc)
            attention = wording.fields_need_attention(len(exc.by_key()))
            window.statusBar().showMessage(f"Not tested: {attention}.", 8000)
            return None
        return settings, TESTING_FORM

    def start_test(self) -> None:
        """Open the results view for what Test checks now; the user starts the check there."""
        found = self.settings_to_test()
        if found is None:
            return
        dialog = self._check_view()
        if not dialog.running:
            dialog.prepare(*found)
        bring_up(dialog)

    def _check_view(self) -> CheckDialog:
        if self.check_dialog is None:
            from configurator.ui.check_dialog import CheckDialog

            self.check_dialog = CheckDialog(self.window.widget())
            self.check_dialog.start_requested.connect(self._run_check)
            self.check_dialog.passed_with_recipient.connect(self._remember_recipient)
            self.check_dialog.trust_requested.connect(self._trust_certificate)
            self.check_dialog.check_ended.connect(self._check_ended)
        return self.check_dialog

    def _check_ended(self, result: CheckResult | None) -> None:
        """Record the check's outcome in plain words (cancelled and crashed checks too)."""
        # Worded as `configurator test` words it in the trail (``CheckResult.summary``).
        self._record_check("stopped unexpectedly" if result is None else result.summary())

    def _record_check(self, detail: str) -> None:
        from configurator import audit

        run = self.check_dialog.run if self.check_dialog is not None else None
        if run is not None and run.source == TESTING_FORM:
            detail += " (values in the form, not saved)"
        warning = self.window.record(audit.Action.CHECK, detail)
        if warning is not None:
            self.window.statusBar().showMessage(warning)

    def _run_check(self) -> None:
        dialog = self.check_dialog
        if dialog is None:
            return
        found = self.settings_to_test()
        if found is None:
            dialog.refuse_start(
                "The form has values that are not valid; each field in the window says why."
                if self.session.view.test is Source.FORM
                else NO_TEST
            )
            return
        dialog.begin(*found, self.session.generation)

    def _keep_finding(
        self, run: CheckRun, key: Literal["tls_fingerprint"], value: str
    ) -> tuple[bool, str]:
        """Save ``key`` (Read-only) or put it into the form (Write, Edit); say what happened.

        Only trusting a certificate changes the settings, and only because the
        user asked for it; the Test Recipient is a preference (``_remember_recipient``).
        """
        import dataclasses

        from configurator import audit

        window, session = self.window, self.session
        label = model.FIELDS_BY_KEY[key].label
        if not session.still_current(run.settings, run.generation):
            return False, (
                f"{label} was not changed: the settings shown in the window are no "
                "longer the ones this check tested."
            )
        if session.mode is not Mode.READ_ONLY:
            window.form.set_value(key, value)
            return True, f"{label} is set in the form; Submit saves it."
        stored = session.stored
        assert stored is not None
        if getattr(stored.settings, key) == value:
            return True, ""
        if not session.writable:
            return False, f"{label} was not saved: {session.not_writable_reason()}"
        current = stored.settings
        changed = dataclasses.replace(current, tls_fingerprint=value)
        try:
            saved = session.store.save(
                changed,
                expected_revision=stored.revision,
                expected_lineage=stored.lineage,
            )
        except ConflictError:
            window.reload()
            return False, (
                f"{label} was not saved: the settings were changed elsewhere meanwhile. "
                "The window shows them now; check them again."
            )
        except (StoreError, model.ValidationError) as exc:
            return False, f"{label} was not saved: {exc}"
        warning = window.record(
            audit.Action.SUBMIT,
            f"revision {saved.revision}, from the server check",
            audit.changed_fields(current, saved.settings),
        )
        if warning is not None:
            window.statusBar().showMessage(warning)
        session.kept(saved)  # the window shows it
        return True, f"{label} saved (revision {saved.revision})."

    def _remember_recipient(self, run: CheckRun) -> None:
        """Keep the address as this user's preference: a check only looks at the settings.

        In every mode alike: no new revision, no change in the audit trail or
        in the form, and nothing that needs write permission on the store.
        """
        from configurator import preferences

        label = model.FIELDS_BY_KEY["test_recipient"].label
        if preferences.remembered_recipient() == run.recipient:
            return
        try:
            preferences.remember_recipient(run.recipient)
        except preferences.PreferenceError as exc:
            message = f"{run.recipient} was not remembered as your {label}: {exc}"
        else:
            message = f"{run.recipient} is remembered as your {label} for next time."
        if self.check_dialog is not None:
            self.check_dialog.show_notice(message)

    def _trust_certificate(self, run: CheckRun, fingerprint: str) -> None:
        kept, message = self._keep_finding(run, "tls_fingerprint", fingerprint)
        dialog = self.check_dialog
        if dialog is None:
            return
        if not kept:
            dialog.show_notice(message)
            return
        # Prove the pin at once: the check runs again with it.
        self._run_check()
        dialog.show_notice(f"{message} Checking again with the pinned certificate.".strip())

    # -- detecting settings ------------------------------------------------------

    def start_detect(self) -> None:
        """Probe the form's server for a working port and security, on a worker."""
        from configurator.ui.detect import DetectRequest

        session = self.session
        if session.mode is Mode.READ_ONLY and session.stored is not None:
            stored = session.stored.settings
            request = DetectRequest(
                stored.server,
                stored.username,
                stored.password,
                stored.timeout,
                stored.ca_file,
                stored.tls_fingerprint,
                port=stored.port,
                security=stored.security,
            )
        elif session.view.form_editable:
            found = self._detect_request_from_form()
            if found is None:
                return
            request = found
        else:
            return
        dialog = self._detect_view()
        if not dialog.running:
            dialog.begin(request)
        bring_up(dialog)

    def _detect_request_from_form(self) -> DetectRequest | None:
        from configurator.ui.detect import request_from_form

        window, session = self.window, self.session
        # In Edit mode an empty password field means the stored password, as for Submit.
        stored = session.stored
        keep = stored.settings.password if session.mode is Mode.EDIT and stored else ""
        found = request_from_form(window.form.values(), stored_password=keep)
        if isinstance(found, model.FieldError):
            window.form.set_errors(model.ValidationError([found]))
            window.statusBar().showMessage("Enter the server to detect its settings.", 8000)
            return None
        return found

    def _detect_view(self) -> DetectDialog:
        if self.detect_dialog is None:
            from configurator.ui.detect import DetectDialog

            self.detect_dialog = DetectDialog(self.window.widget())
            self.detect_dialog.apply_requested.connect(self._apply_detected)
        return self.detect_dialog

    def _apply_detected(self, choice: DetectChoice) -> None:
        """Put the chosen port and security into the form, entering Edit from Read-only."""
        window, session = self.window, self.session
        if session.mode is Mode.READ_ONLY:
            window.edit()
        if not session.editing:
            window.statusBar().showMessage("Not applied: the settings cannot be changed.", 8000)
            return
        if window.form.values()["server"] != choice.server:
            window.statusBar().showMessage(
                "Not applied: Outgoing Mail Server changed since the detection; detect again.",
                8000,
            )
            return
        window.form.apply_connection(choice.port, choice.security)
        if self.detect_dialog is not None:
            self.detect_dialog.accept()
        label = f"{choice.security.phrase} on port {choice.port}"
        label = label[:1].upper() + label[1:]
        window.statusBar().showMessage(f"{label} is set in the form; Submit saves it.", 8000)

    # -- stopping ------------------------------------------------------------------

    def cancel(self) -> None:
        """Cancel a running check or detection without waiting for the network."""
        for view in (self.check_dialog, self.detect_dialog):
            if view is not None:
                view.cancel()

    def close_views(self) -> None:
        """Close the views; cancelling only wakes the workers, nothing waits for them.

        A check still running is recorded as cancelled now, while the window
        closes, rather than when its worker has unwound: the program ends as
        soon as its window is gone and would not wait for that.
        """
        dialog = self.check_dialog
        if dialog is not None and dialog.running:
            dialog.check_ended.disconnect(self._check_ended)
            self._record_check("cancelled")
        for view in (self.check_dialog, self.detect_dialog):
            if view is not None:
                view.close()
