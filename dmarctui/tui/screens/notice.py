"""The notice screen: preview the letter to a source's admin, edit it, save a draft or send it.

Nothing leaves the machine without the confirmation modal naming From, To, Cc and Subject; a
send always writes the draft first, so a failed send keeps it. Both are recorded in the notice
history, which the Sources pane reads for "notified on". In the demo, sending is off.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Label, Static, TextArea

from dmarctui.config import Config, Lang
from dmarctui.history import HistoryError
from dmarctui.letter_policy import policies_in_index
from dmarctui.notice import (
    AddressError,
    NoticeError,
    body_text,
    build_notice,
    recipient_for,
    recipients,
    sender_warning,
    with_edits,
)
from dmarctui.notice_templates import TemplateError
from dmarctui.outbox import (
    SENDING_OFF_IN_DEMO,
    OutboxError,
    SendError,
    confirmation_text,
    draft_notice,
    drafts_target,
    send_notice,
)
from dmarctui.tui.safe_text import PlainTable, plain
from dmarctui.tui.screen_stack import ClosesOnlyItself
from dmarctui.tui.screens.prompt import PromptScreen
from dmarctui.tui.source_cells import KIND_LABELS
from dmarctui.tui.widgets.confirm import ConfirmScreen
from dmarctui.tui.widgets.key_bar import KeyBar
from dmarctui.tui.widgets.scrolling import KeyScroll

if TYPE_CHECKING:
    from dmarctui.model import Finding
    from dmarctui.tui.app import DmarcApp

LANG_NAMES: dict[Lang, str] = {"ja": "日本語", "en": "English"}


def editor_command() -> list[str] | None:
    """``$VISUAL``, ``$EDITOR``, else ``vi`` when installed (it is, on a mail server)."""
    for name in ("VISUAL", "EDITOR"):
        if os.environ.get(name, "").strip():
            return shlex.split(os.environ[name])
    return ["vi"] if shutil.which("vi") else None


def drafts_label(config: Config) -> str:
    """The drafts folder as the user wrote it, or the default with the home folder as ``~``."""
    if config.notice.drafts:
        return config.notice.drafts
    target, home = drafts_target(config), Path.home()
    return f"~/{target.relative_to(home)}" if target.is_relative_to(home) else str(target)


class NoticeScreen(ClosesOnlyItself, Screen[bool]):
    """Dismisses with True when a draft was saved or the notice sent (the history changed)."""

    HELP = """\
## Notice

The letter to the admin of the chosen sources, in the contact's language. **l** switches
between Japanese and English, **e** edits the body here (**Esc** when done), **E** opens it in
`$EDITOR`, **t** changes the recipients (several, comma separated), **c** the copies (Cc).
**d** saves a draft into the drafts folder; **S** sends it, after a confirmation that shows
From, To, Cc and Subject. The demo never sends.
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "back",
            "Back",
            tooltip="Back to the sources (Esc ends editing first; asks before dropping edits)",
            id="notice.back",
        ),
        Binding(
            "l",
            "toggle_lang",
            "Lang",
            tooltip="Switch between Japanese and English",
            id="notice.lang",
        ),
        Binding("e", "edit", "Edit", tooltip="Edit the body here", id="notice.edit"),
        Binding(
            "E",
            "external_editor",
            "$EDITOR",
            tooltip="Edit the body in $EDITOR",
            id="notice.editor",
        ),
        Binding(
            "t",
            "recipient",
            "To",
            tooltip="Change the recipients (comma separated)",
            id="notice.to",
        ),
        Binding("c", "copies", "Cc", tooltip="Set the copies (Cc)", id="notice.cc"),
        Binding(
            "d",
            "save_draft",
            "Draft",
            tooltip="Save a draft into the drafts folder",
            id="notice.draft",
        ),
        Binding(
            "S",
            "send",
            "Send",
            tooltip="Send, after confirming recipients and subject",
            id="notice.send",
        ),
    ]

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__()
        self.findings = findings
        self.lang: Lang | None = None
        self.to: str | None = None
        self.cc: str | None = None
        self._policies: dict[str, str] | None = None
        self.msg: EmailMessage | None = None
        self.editing = False
        self.changed = False
        """A draft was written (maybe by a failed send): the Sources pane must reload."""
        self._built_body = ""

    @property
    def dmarc(self) -> DmarcApp:
        return cast("DmarcApp", self.app)

    def compose(self) -> ComposeResult:
        ips = list(dict.fromkeys(f.source_ip for f in self.findings))
        kinds = ", ".join(dict.fromkeys(KIND_LABELS[f.kind] for f in self.findings))
        yield Label(
            Text.assemble(("Notice", "bold"), plain(f" about {', '.join(ips)} ({kinds})")),
            id="notice-title",
        )
        yield Static("", id="notice-headers")
        with KeyScroll(id="notice-preview"):
            yield Static("", id="notice-preview-text")
        yield TextArea("", read_only=True, soft_wrap=True, id="notice-body")
        yield Label("", id="notice-hint")
        yield KeyBar()

    @property
    def body(self) -> TextArea:
        return self.query_one("#notice-body", TextArea)

    def on_mount(self) -> None:
        self._build(first=True)

    # ------------------------------------------------------------------ building

    def _needs_address(self) -> bool:
        config = self.dmarc.config
        return self.to is None and any(
            config.contact_for(f.source_ip, f.ptr) is None and not f.contact_email
            for f in self.findings
        )

    def _build(self, *, first: bool = False) -> None:
        if self._needs_address():
            self._ask_address(first=first)
            return
        try:
            msg = build_notice(
                self.findings,
                self.dmarc.config,
                lang=self.lang,
                to=self.to,
                cc=self.cc,
                now=datetime.fromtimestamp(self.dmarc.clock(), UTC),
                policies=self._policies_seen(),
            )
        except AddressError as exc:  # the user's typing: say so and ask again
            self.notify(
                f"{exc}: type an address like admin@example.org",
                title="Not an e-mail address",
                severity="error",
                timeout=15,
            )
            typed, self.to = self.to or "", None
            self._ask_address(first=first, typed=typed)
            return
        except (NoticeError, TemplateError) as exc:
            self.notify(str(exc), title="Cannot write the notice", severity="error", timeout=15)
            if first:
                self.dismiss(False)
            return
        warning = sender_warning(self.dmarc.config, msg["From"])
        if warning and first:
            self.notify(warning, title="No From configured", severity="warning", timeout=15)
        self.msg = msg
        self._built_body = body_text(msg)
        self.body.load_text(self._built_body)
        self._show_headers()
        self._show_preview(top=True)

    def _show_preview(self, *, top: bool = False) -> None:
        """The body as the recipient will read it, wrapped to the width (CJK counts two cells).

        The text area is for editing only: as a preview it would cut long lines at the right
        edge and its arrow keys would move a cursor instead of scrolling.
        """
        self.query_one("#notice-preview-text", Static).update(Text(self.body.text))
        preview = self.query_one("#notice-preview", KeyScroll)
        self.body.display = False
        preview.display = True
        preview.focus()
        if top:  # another letter (language, recipient): read it from its start
            preview.scroll_to(y=0, animate=False, immediate=True)

    def _policies_seen(self) -> dict[str, str] | None:
        """The ``p=`` the reports quoting these sources show, read once from the index."""
        if self._policies is None:
            ips = [f.source_ip for f in self.findings]
            try:
                self._policies = policies_in_index(self.dmarc.index, ips)
            except Exception:  # the letter then states no policy rather than a wrong one
                return None
        return self._policies

    def _valid(self, what: str, to: str | None, cc: str | None) -> bool:
        """Check typed addresses before rebuilding; say which one is wrong."""
        try:
            recipient_for(self.findings, self.dmarc.config, to, cc)
        except NoticeError as exc:
            self.notify(str(exc), title=f"Invalid {what} address", severity="error", timeout=15)
            return False
        return True

    def _ask_address(self, *, first: bool, typed: str = "") -> None:
        def done(address: str | None) -> None:
            if address and address.strip():
                if self._valid("To", address.strip(), self.cc):
                    self.to = address.strip()
                    self._build(first=first)
                else:
                    self._ask_address(first=first, typed=address.strip())
            elif first:
                self.dismiss(False)

        ips = ", ".join(dict.fromkeys(f.source_ip for f in self.findings))
        self.app.push_screen(
            PromptScreen(
                f"Recipient for {ips}",
                value=typed or self.to or "",
                placeholder="Name <admin@example.org>, second@example.org",
                hint="No contact is configured for this source · several addresses:"
                " comma separated · Enter to use them · Esc to cancel",
            ),
            done,
        )

    @property
    def language(self) -> Lang:
        value = str(self.msg["Content-Language"]) if self.msg is not None else "ja"
        return "en" if value == "en" else "ja"

    def _show_headers(self) -> None:
        msg = self.msg
        if msg is None:
            return
        grid = PlainTable.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        grid.add_row("To", ", ".join(str(v) for v in msg.get_all("To", [])))
        if msg["Cc"] is not None:
            grid.add_row("Cc", str(msg["Cc"]))
        grid.add_row("Subject", str(msg["Subject"]))
        grid.add_row("From", str(msg["From"]))
        grid.add_row("Language", LANG_NAMES[self.language])
        self.query_one("#notice-headers", Static).update(grid)
        self._show_hint()

    def _show_hint(self) -> None:
        if self.editing:
            hint = Text("Editing the body: Esc when done", "bold")
        else:
            hint = Text(f"Drafts go to {drafts_label(self.dmarc.config)}", "dim")
            if self.dmarc.config.demo:
                hint.append(" · the demo never sends")
            warning = sender_warning(self.dmarc.config, self.msg["From"] if self.msg else None)
            if warning:
                hint = Text.assemble((warning + " · ", "yellow"), hint)
            if self.edited:
                hint = Text.assemble(("Edited · ", "yellow"), hint)
        self.query_one("#notice-hint", Label).update(hint)

    @property
    def edited(self) -> bool:
        return self.body.text != self._built_body

    def final_message(self) -> EmailMessage | None:
        """The message as it will be saved or sent: the user's body when it was edited."""
        if self.msg is None:
            return None
        return with_edits(self.msg, body=self.body.text) if self.edited else self.msg

    def _rebuild_keeping_edits_asked(self, change: str) -> None:
        """Rebuilding replaces an edited body, so ask first."""
        if not self.edited:
            self._build()
            return

        def done(yes: bool | None) -> None:
            if yes:
                self._build()

        self.app.push_screen(
            ConfirmScreen(
                change, "Rebuilding the letter replaces your edits to the body.", yes="Replace"
            ),
            done,
        )

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action == "back" or not self.editing

    def action_back(self) -> None:
        if self.editing:
            self.editing = False
            self.body.read_only = True
            self._show_preview()
            self._show_hint()
            self.refresh_bindings()
            return
        if not self.edited:
            self.dismiss(self.changed)
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.dismiss(self.changed)

        self.app.push_screen(
            ConfirmScreen(
                "Leave the notice", self.unsaved_warning(), yes="Leave", draft=self.save_draft_now
            ),
            done,
        )

    def unsaved_warning(self) -> str:
        """What leaving now would lose, for the confirmation (only asked when edited)."""
        ips = ", ".join(dict.fromkeys(f.source_ip for f in self.findings))
        return (
            f"Your edits to the letter about {ips} are not saved and would be lost.\n"
            "d saves them as a draft."
        )

    def action_toggle_lang(self) -> None:
        if self.msg is None:
            return
        self.lang = "en" if self.language == "ja" else "ja"
        self._rebuild_keeping_edits_asked("Switch language")

    def action_recipient(self) -> None:
        def done(address: str | None) -> None:
            if address and address.strip() and self._valid("To", address.strip(), self.cc):
                self.to = address.strip()
                self._rebuild_keeping_edits_asked("Change recipient")

        current = ", ".join(str(v) for v in self.msg.get_all("To", [])) if self.msg else ""
        self.app.push_screen(
            PromptScreen(
                "Recipients (To)",
                value=self.to or current,
                placeholder="Name <admin@example.org>, second@example.org",
                hint="Several addresses: comma separated · Enter to use them · Esc to cancel",
            ),
            done,
        )

    def action_copies(self) -> None:
        def done(address: str | None) -> None:
            if address is None:
                return
            if self._valid("Cc", self.to, address.strip()):
                self.cc = address.strip()
                self._rebuild_keeping_edits_asked("Change copies")

        current = str(self.msg["Cc"]) if self.msg is not None and self.msg["Cc"] else ""
        self.app.push_screen(
            PromptScreen(
                "Copies (Cc)",
                value=self.cc if self.cc is not None else current,
                placeholder="head@example.org, deputy@example.org",
                hint="Comma separated · empty: no copies · Enter to use · Esc to cancel",
            ),
            done,
        )

    def action_edit(self) -> None:
        if self.msg is None:
            return
        self.editing = True
        self.body.read_only = False
        self.query_one("#notice-preview", KeyScroll).display = False
        self.body.display = True
        self.body.focus()
        self._show_hint()
        self.refresh_bindings()

    def action_external_editor(self) -> None:
        command = editor_command()
        if self.msg is None:
            return
        if command is None:
            self.notify("Set $EDITOR to edit the notice in your editor", severity="warning")
            return
        with tempfile.TemporaryDirectory(prefix="dmarctui-") as tmp:
            path = Path(tmp) / "notice.txt"
            path.write_text(self.body.text, encoding="utf-8")
            try:
                with self.app.suspend():
                    done = subprocess.run([*command, str(path)], check=False)
            except SuspendNotSupported:
                self.notify(
                    "This terminal cannot hand over to an editor: press e to edit here",
                    severity="warning",
                )
                return
            except OSError as exc:
                self.notify(f"{command[0]}: {exc.strerror or exc}", severity="error")
                return
            if done.returncode != 0:
                self.notify(
                    f"{command[0]} exited with status {done.returncode}: body unchanged",
                    severity="warning",
                )
                return
            text = path.read_text(encoding="utf-8", errors="replace")
        self.body.load_text(text)
        self._show_preview()
        self._show_hint()

    def save_draft_now(self) -> bool:
        """Save the draft before leaving or quitting (``d`` in the unsaved-edits question).

        Runs in the UI thread: the caller leaves right after, so a worker could be cut short.
        """
        msg = self.final_message()
        if msg is None:
            return False
        try:
            path = draft_notice(msg, self.findings, drafts_target(self.dmarc.config))
        except (OutboxError, HistoryError) as exc:
            self.notify(str(exc), title="Draft not saved", severity="error", timeout=30)
            return False
        self.notify(f"Draft saved: {path}", title="Notice", timeout=10)
        self.changed = True
        self._built_body = self.body.text
        return True

    def action_save_draft(self) -> None:
        msg = self.final_message()
        if msg is not None:
            self._save(msg)

    @work(
        thread=True,
        exclusive=True,
        group="notice",
        exit_on_error=False,
        description="save the notice as a draft",
    )
    def _save(self, msg: EmailMessage) -> None:
        try:
            path = draft_notice(
                msg, self.findings, drafts_target(self.dmarc.config), history=self.dmarc.history
            )
        except (OutboxError, HistoryError) as exc:
            self.app.call_from_thread(
                self.notify, str(exc), title="Draft not saved", severity="error", timeout=30
            )
            return
        self.app.call_from_thread(self._done, f"Draft saved: {path}", "Notice")

    def action_send(self) -> None:
        msg = self.final_message()
        if msg is None:
            return
        if self.dmarc.config.demo:
            self.notify(
                SENDING_OFF_IN_DEMO[0].upper() + SENDING_OFF_IN_DEMO[1:] + ".",
                title="Sending is off in the demo",
                severity="warning",
                timeout=15,
            )
            return

        def done(yes: bool | None) -> None:
            if yes:
                self._send(msg)
            else:
                self.notify("Nothing was sent")

        self.app.push_screen(
            ConfirmScreen("Send notice", confirmation_text(msg, self.dmarc.config), yes="Send"),
            done,
        )

    @work(
        thread=True,
        exclusive=True,
        group="notice",
        exit_on_error=False,
        description="send the notice",
    )
    def _send(self, msg: EmailMessage) -> None:
        config = self.dmarc.config
        try:
            send_notice(msg, self.findings, config, confirmed=True, history=self.dmarc.history)
        except SendError as exc:
            self.changed = self.changed or exc.draft is not None
            self.app.call_from_thread(
                self.notify, str(exc), title="Not sent", severity="error", timeout=30
            )
            return
        except (OutboxError, HistoryError) as exc:
            self.app.call_from_thread(
                self.notify, str(exc), title="Not sent", severity="error", timeout=30
            )
            return
        self.app.call_from_thread(self._done, f"Sent to {', '.join(recipients(msg))}", "Notice")

    def _done(self, text: str, title: str) -> None:
        self.notify(text, title=title, timeout=10)
        self.changed = True
        self.dismiss(True)
