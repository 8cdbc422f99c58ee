"""Mail templates by language, and the RFC 5322 message built from an outbox row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest

from hanse.mail import Attachment, MailTemplates, SmtpServer, build_message, checked_headers, mailbox
from hanse.settings import Settings

TEMPLATES = Path(__file__).resolve().parents[1] / "data" / "templates" / "mail"


@pytest.fixture(scope="module")
def templates() -> MailTemplates:
    return MailTemplates(TEMPLATES)


@pytest.mark.parametrize(
    ("asked", "chosen"),
    [
        ("de", "de"),
        ("de-CH", "de"),
        ("DE", "de"),
        ("zh-Hans", "zh"),
        ("zh_CN", "zh"),
        ("en-GB", "en"),
        ("fr", "en"),  # no French version of this template: English
        ("pt-BR", "en"),
        (None, "en"),
        ("", "en"),
        ("../../etc", "en"),  # not a language tag: never part of a path
    ],
)
def test_the_recipients_language_picks_the_template_else_english(templates: MailTemplates, asked, chosen):
    assert templates.language_for("welcome", asked) == chosen


def test_a_template_without_an_english_version_is_an_error_not_an_empty_mail(tmp_path: Path):
    (tmp_path / "reminder.de.subject").write_text("Erinnerung")
    (tmp_path / "reminder.de.txt").write_text("Bitte zahlen.")
    only_german = MailTemplates(tmp_path)
    assert only_german.render("reminder", "de", {}).subject == "Erinnerung"
    with pytest.raises(LookupError, match="no en version"):
        only_german.render("reminder", "fr", {})


@pytest.mark.parametrize("name", ["../welcome", "_layout", "Welcome", "we/lcome", ""])
def test_template_names_are_plain_words(templates: MailTemplates, name: str):
    with pytest.raises(ValueError, match="template name"):
        templates.language_for(name, "en")


def test_rendering_gives_subject_text_and_html_in_one_language(templates: MailTemplates):
    mail = templates.render("welcome", "zh-CN", {"name": "李", "order": "SO-7"})
    assert mail.language == "zh"
    assert mail.subject == "欢迎，李"
    assert "您的订单 SO-7 已确认" in mail.text
    assert mail.html is not None and '<html lang="zh">' in mail.html and "SO-7" in mail.html


def test_html_is_autoescaped_and_text_is_not(templates: MailTemplates):
    mail = templates.render("welcome", "en", {"name": "<b>Eve</b> & Co", "order": "1"})
    assert "Hello <b>Eve</b> & Co," in mail.text
    assert "Hello &lt;b&gt;Eve&lt;/b&gt; &amp; Co," in (mail.html or "")


def test_a_missing_variable_fails_when_the_mail_is_written(templates: MailTemplates):
    with pytest.raises(jinja2.UndefinedError, match="order"):
        templates.render("welcome", "en", {"name": "Ann"})


def test_the_subject_is_one_line_whatever_the_template_or_the_values(templates: MailTemplates):
    mail = templates.render("welcome", "en", {"name": "Ann\r\nBcc: victim@example.com", "order": "1"})
    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert mail.subject == "Welcome, Ann Bcc: victim@example.com"


def test_a_template_without_html_renders_text_only(templates: MailTemplates):
    mail = templates.render("notice", "de", {"name": "Ann"})
    assert (mail.language, mail.html) == ("en", None)


def _row(**changes) -> SimpleNamespace:
    values = {
        "message_id": "<0123abcd@hanse.example>",
        "created_at": datetime(2026, 11, 26, 9, 30, 5, tzinfo=UTC),
        "from_address": "Hanse Sales <sales@hanse.example>",
        "to_address": "Zoë Müller <zoe@example.de>",
        "subject": "Ihre Bestellung SO-7 ist bestätigt",
        "language": "de",
        "headers": json.dumps({"List-Unsubscribe": "<https://hanse.example/u?t=abc>"}),
        "text_body": "Hallo Zoë,\nIhre Bestellung ist bestätigt.\n",
        "html_body": "<p>Hallo Zoë,</p>",
    }
    values.update(changes)
    return SimpleNamespace(**values)


def _reparse(message) -> object:
    return BytesParser(policy=policy.default).parsebytes(message.as_bytes(policy=policy.SMTP))


def test_the_message_carries_its_fixed_identity_and_both_parts_and_attachments():
    invoice = Attachment("invoice-SO-7.pdf", "application/pdf", b"%PDF-1.7\n\x00\xff binary")
    message = _reparse(build_message(_row(), [invoice]))
    assert message["Message-ID"] == "<0123abcd@hanse.example>"
    assert parsedate_to_datetime(message["Date"]) == datetime(2026, 11, 26, 9, 30, 5, tzinfo=UTC)
    assert message["From"].addresses[0].addr_spec == "sales@hanse.example"
    assert message["To"].addresses[0].display_name == "Zoë Müller"
    assert message["Subject"] == "Ihre Bestellung SO-7 ist bestätigt"
    assert message["Content-Language"] == "de"
    assert message["List-Unsubscribe"] == "<https://hanse.example/u?t=abc>"
    assert message.get_content_type() == "multipart/mixed"
    alternative, attached = message.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    text, html = alternative.get_payload()
    assert text.get_content_type() == "text/plain" and "bestätigt" in text.get_content()
    assert html.get_content_type() == "text/html" and "<p>Hallo Zoë,</p>" in html.get_content()
    assert attached.get_filename() == "invoice-SO-7.pdf"
    assert attached.get_content_type() == "application/pdf"
    assert attached.get_content() == invoice.content


def test_a_text_only_message_without_attachments_is_plain_text():
    message = _reparse(build_message(_row(html_body=None, headers="{}")))
    assert message.get_content_type() == "text/plain"
    assert message["List-Unsubscribe"] is None


def test_the_same_row_builds_the_same_message_so_a_resend_is_a_duplicate():
    assert build_message(_row()).as_bytes() == build_message(_row()).as_bytes()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("anna@example.com", "anna@example.com"),
        ("Anna Schmidt <anna@example.com>", "Anna Schmidt <anna@example.com>"),
    ],
)
def test_one_address_is_accepted(value: str, expected: str):
    assert mailbox(value) == expected


@pytest.mark.parametrize(
    "value", ["", "anna", "a@example.com, b@example.com", "anna@example.com\r\nBcc: b@example.com", "a@b@c"]
)
def test_anything_but_one_address_is_refused(value: str):
    with pytest.raises(ValueError):
        mailbox(value)


@pytest.mark.parametrize(
    "headers",
    [
        {"From": "x@example.com"},
        {"bcc": "x@example.com"},
        {"Message-ID": "<x@y>"},
        {"Content-Disposition": "attachment"},
        {"X-Note": "a\r\nBcc: b"},
        {"X y": "1"},
    ],
)
def test_a_department_cannot_set_the_kernels_headers_or_break_lines(headers: dict[str, str]):
    with pytest.raises(ValueError):
        checked_headers(headers)


def test_list_unsubscribe_and_reply_to_are_a_departments_to_set():
    headers = {
        "List-Unsubscribe": "<https://hanse.example/u?t=abc>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Reply-To": "support@hanse.example",
    }
    assert checked_headers(headers) == headers


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:8025", ("127.0.0.1", 8025, False, None, None, None)),
        ("smtp://mail.example.com", ("mail.example.com", 25, False, None, None, None)),
        ("smtp://u%40x:p%3Ass@mail.example.com?starttls=1", ("mail.example.com", 587, False, True, "u@x", "p:ss")),
        ("smtp://mail.example.com:2525?starttls=0", ("mail.example.com", 2525, False, False, None, None)),
        ("smtps://mail.example.com", ("mail.example.com", 465, True, None, None, None)),
    ],
)
def test_the_smtp_url_names_host_port_tls_and_login(url: str, expected: tuple):
    server = SmtpServer.from_url(url)
    assert (
        server.hostname,
        server.port,
        server.use_tls,
        server.start_tls,
        server.username,
        server.password,
    ) == expected


@pytest.mark.parametrize("url", ["http://mail.example.com", "mail.example.com:25", "smtp://"])
def test_a_bad_smtp_url_stops_the_process_at_start(url: str):
    with pytest.raises(ValueError, match="HANSE_SMTP_URL"):
        Settings(smtp_url=url)
