"""The configuration: promised error messages, defaults, and source matching."""

from __future__ import annotations

import argparse
import tomllib
from ipaddress import ip_network
from pathlib import Path

import pytest

from dmarctui.cli import config_cmd
from dmarctui.config import (
    EXAMPLE_CONFIG,
    Config,
    ConfigError,
    ConfigProblem,
    default_config_path,
    load_config,
    parse_config,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_default_file_gives_defaults() -> None:
    assert not default_config_path().exists()
    assert load_config() == (Config(), [])


def test_default_path_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_config_path() == tmp_path / "xdg" / "dmarctui" / "config.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert default_config_path() == Path.home() / ".config" / "dmarctui" / "config.toml"


def test_named_file_missing_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[domains]\nown = example.ac.jp\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: invalid TOML:")
    assert "line" in str(info.value)


def test_example_config_loads_cleanly(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    config, problems = load_config(write(tmp_path, EXAMPLE_CONFIG))
    assert problems == []
    # The example values are commented out: an unedited file never applies them.
    assert (config.own_domains, config.internal, config.senders, config.contacts) == ((),) * 4
    assert (config.notice.from_addr, config.notice.drafts) == (None, None)
    assert config.notice.smtp.port == 25
    # Uncommented, they are a working configuration.
    live = "\n".join(
        line[2:]
        if line.startswith("# ")
        and (
            " = " in line
            or line.startswith("# [")
            or '"""' in line
            or line == "# --"
            or line.startswith("# Department")
        )
        else line
        for line in EXAMPLE_CONFIG.splitlines()
    )
    config, problems = load_config(write(tmp_path, live))
    assert problems == []
    assert config.own_domains == ("example.ac.jp",)
    assert config.internal == (ip_network("192.0.2.0/24"), ip_network("2001:db8::/32"))
    assert [s.label for s in config.senders] == ["Newsletter service", "Society mailing list"]
    assert config.contacts[0].email == "admin@lab1.example.ac.jp"
    assert config.notice.from_addr == "postmaster@example.ac.jp"
    assert config.notice.drafts == str(Path.home() / "Maildir" / ".Drafts")
    assert config.path == tmp_path / "config.toml"
    assert config.templates_dir == tmp_path / "templates"


def test_bad_network_named_with_file_key_and_value_and_rest_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[domains]\nown = ["example.ac.jp"]\n'
        '[networks]\ninternal = ["10.0.0.0/8", "10.0.0.300/8", "2001:db8::/32"]\n',
    )
    config, problems = load_config(path)
    assert [str(p) for p in problems] == [
        'config.toml: networks.internal[1]: "10.0.0.300/8" is not an IPv4 or IPv6 network'
    ]
    assert config.own_domains == ("example.ac.jp",)
    assert config.internal == (ip_network("10.0.0.0/8"), ip_network("2001:db8::/32"))


def test_every_bad_value_is_reported_and_defaulted() -> None:
    data = tomllib.loads(
        """
        colour = "blue"
        [domains]
        own = ["example.ac.jp", "not a domain", 7]
        include_subdomains = "yes"
        [[senders]]
        label = "no match"
        [[senders]]
        match = "198.51.100.0/24"
        role = "friend"
        [[contacts]]
        match = "192.0.2.0/26"
        email = "nobody"
        [[contacts]]
        match = "*.lab1.example.ac.jp"
        email = "admin@lab1.example.ac.jp"
        lang = "fr"
        [notice]
        send = "pigeon"
        [notice.smtp]
        port = 70000
        """
    )
    config, problems = parse_config(data)
    assert [(p.key, p.message) for p in problems] == [
        ("colour", "unknown setting (ignored)"),
        ("domains.own[1]", '"not a domain" is not a domain name'),
        ("domains.own[2]", "must be a string, not 7"),
        ("domains.include_subdomains", 'must be true or false, not "yes"'),
        ("senders[0].match", "missing: a CIDR or a PTR glob is required"),
        ("senders[1].role", '"friend" is not one of third_party, mailing_list, forwarder'),
        ("contacts[0].email", "'nobody' is not an e-mail address (local@domain)"),
        ("contacts[1].lang", '"fr" is not one of ja, en'),
        ("notice.smtp.port", "must be a whole number from 1 to 65535, not 70000"),
        ("notice.send", '"pigeon" is not one of sendmail, smtp'),
    ]
    assert config.own_domains == ("example.ac.jp",)
    assert config.include_subdomains is True
    assert [(s.match, s.role) for s in config.senders] == [("198.51.100.0/24", "third_party")]
    assert [(c.match, c.lang) for c in config.contacts] == [("*.lab1.example.ac.jp", "ja")]
    assert config.notice.send == "sendmail"
    assert config.notice.smtp.port == 25


def test_problem_reads_as_one_line() -> None:
    problem = ConfigProblem("c.toml", "senders[0].match", "bad")
    assert str(problem) == "c.toml: senders[0].match: bad"


def test_bad_sender_match_is_reported() -> None:
    _, problems = parse_config({"senders": [{"match": "192.0.2.300/24", "label": "x"}]})
    assert [str(p) for p in problems] == [
        'config.toml: senders[0].match: "192.0.2.300/24" is neither an IPv4/IPv6 network '
        "nor a host-name pattern"
    ]


def test_own_domains_and_subdomains() -> None:
    config = Config(own_domains=("example.ac.jp",))
    assert config.is_own_domain("Example.AC.jp.")
    assert config.is_own_domain("lab1.example.ac.jp")
    assert not config.is_own_domain("badexample.ac.jp")
    assert not config.is_own_domain("ac.jp")
    strict = Config(own_domains=("example.ac.jp",), include_subdomains=False)
    assert not strict.is_own_domain("lab1.example.ac.jp")


def test_own_domains_default_to_policy_domains_only_when_unset() -> None:
    assert Config().with_default_domains(["B.example", "a.example", "b.example"]).own_domains == (
        "a.example",
        "b.example",
    )
    config = Config(own_domains=("example.ac.jp",))
    assert config.with_default_domains(["other.example"]) is config


def test_internal_networks_ipv4_and_ipv6() -> None:
    config = Config(internal=(ip_network("192.0.2.0/24"), ip_network("2001:db8::/32")))
    assert config.is_internal("192.0.2.9")
    assert config.is_internal("2001:db8:2::25")
    assert not config.is_internal("198.51.100.1")
    assert not config.is_internal("not an ip")
    assert config.internal_network("2001:db8::1") == ip_network("2001:db8::/32")


def test_sender_and_contact_by_cidr_or_ptr_most_specific_wins() -> None:
    config, problems = parse_config(
        tomllib.loads(
            """
            [[senders]]
            match = "*.mailgun.net"
            label = "Mailgun"
            [[contacts]]
            match = "192.0.2.0/24"
            name = "Campus NOC"
            email = "noc@example.ac.jp"
            [[contacts]]
            match = "192.0.2.64/26"
            name = "Lab 1"
            email = "admin@lab1.example.ac.jp"
            [[contacts]]
            match = "*.lab2.example.ac.jp"
            name = "Lab 2"
            email = "root@lab2.example.ac.jp"
            lang = "en"
            """
        )
    )
    assert problems == []
    sender = config.sender_for("203.0.113.5", "SO-12.MAILGUN.NET.")
    assert sender is not None and sender.label == "Mailgun"
    assert config.sender_for("203.0.113.5", None) is None
    assert config.contact_for("192.0.2.70", None).name == "Lab 1"  # type: ignore[union-attr]
    assert config.contact_for("192.0.2.7", None).name == "Campus NOC"  # type: ignore[union-attr]
    lab2 = config.contact_for("203.0.113.9", "mx.lab2.example.ac.jp")
    assert lab2 is not None and lab2.lang == "en"


# --------------------------------------------------------------------------- config command


def run_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dmarctui")
    config_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_init_writes_example_and_refuses_to_overwrite(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command(["config", "--init"]) == 0
    assert default_config_path().read_text(encoding="utf-8") == EXAMPLE_CONFIG
    assert run_command(["config", "--init"]) == 1
    assert "already exists; not overwriting it" in capsys.readouterr().err
    # The unedited example names no From for letters: --check says so (exit 1).
    assert run_command(["config", "--check"]) == 1
    out = capsys.readouterr().out
    assert "notice.from: not set" in out
    assert f"Configuration: {default_config_path()}" in out
    assert "own domains: (the policy domains seen in the reports) (with subdomains)" in out
    assert "contacts: (none)" in out


def test_own_domains_matching_no_policy_domain_is_warned_naming_both_lists() -> None:
    from dmarctui.config import Config, own_domains_mismatch

    cfg = Config(own_domains=("example.ac.jp",), path=Path("/etc/dm.toml"))
    warning = own_domains_mismatch(cfg, ["univ.example", "Lab.Univ.example.", "univ.example"])
    assert warning == (
        "the configured own domains (example.ac.jp) match none of the reports' policy domains"
        " (lab.univ.example, univ.example): nothing in these reports counts as ours, so nothing"
        " can be flagged; fix [domains] own in /etc/dm.toml"
    )
    assert own_domains_mismatch(cfg, ["sub.example.ac.jp"]) is None
    assert (
        own_domains_mismatch(Config(own_domains=("sub.example.ac.jp",)), ["example.ac.jp"]) is None
    )
    assert own_domains_mismatch(Config(), ["univ.example"]) is None
    assert own_domains_mismatch(cfg, []) is None


def test_check_reports_problems_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[networks]\ninternal = ["10.0.0.300/8"]\n')
    assert run_command(["config", "--check", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    assert 'problem: config.toml: networks.internal[0]: "10.0.0.300/8" is not an IPv4' in out
    assert "internal networks: (none)" in out
    assert run_command(["config", "--check", "--config", str(tmp_path / "none.toml")]) == 1
    assert "config file not found" in capsys.readouterr().err


def test_check_without_any_file_uses_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command(["config"]) == 1  # no From for the letters is a problem
    out = capsys.readouterr().out
    assert out.startswith("No configuration file at ")
    assert "own domains: (the policy domains seen in the reports)" in out
    assert (
        "problem: config.toml: notice.from: not set: letters are sent as"
        " postmaster@<the policy domain of the reports> with a warning; set the From address"
    ) in out


def test_check_flags_a_missing_from_as_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[domains]\nown = ["example.ac.jp"]\n')
    assert run_command(["config", "--check", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    assert (
        "problem: config.toml: notice.from: not set: letters are sent as"
        " postmaster@example.ac.jp with a warning; set the From address"
    ) in out
    assert "notice from: (missing: see the problem above)" in out


def test_contacts_take_a_list_of_addresses_and_copies() -> None:
    config, problems = parse_config(
        tomllib.loads(
            """
[[contacts]]
match = "192.0.2.80/28"
name = "Lab 2"
email = ["Lab2 Admin <admin2@lab2.example.ac.jp>", "second@lab2.example.ac.jp"]
cc = "head@example.ac.jp"

[[contacts]]
match = "192.0.2.96/28"
email = "ok@lab3.example.ac.jp, not an address"
"""
        )
    )
    [lab2] = config.contacts
    assert lab2.email == "Lab2 Admin <admin2@lab2.example.ac.jp>, second@lab2.example.ac.jp"
    assert lab2.cc == "head@example.ac.jp"
    assert [(p.key, p.message) for p in problems] == [
        ("contacts[1].email", "'not an address' is not an e-mail address (local@domain)")
    ]


def test_planned_policy_and_date() -> None:
    config, problems = parse_config(
        tomllib.loads('[notice]\nplanned_policy = "quarantine"\nplanned_date = 2025-01-15\n')
    )
    assert (config.notice.planned_policy, str(config.notice.planned_date)) == (
        "quarantine",
        "2025-01-15",
    )
    assert problems == []
    config, problems = parse_config(
        tomllib.loads('[notice]\nplanned_policy = "strict"\nplanned_date = "soon"\n')
    )
    assert (config.notice.planned_policy, config.notice.planned_date) == (None, None)
    assert [p.key for p in problems] == ["notice.planned_policy", "notice.planned_date"]


def test_own_domain_answers_are_not_carried_into_a_changed_config() -> None:
    from dataclasses import replace

    from dmarctui.config import Config

    university = Config(own_domains=("example.ac.jp",))
    assert university.is_own_domain("lab1.example.ac.jp")
    other = replace(university, own_domains=("other.example",))
    assert not other.is_own_domain("lab1.example.ac.jp")
    assert not replace(university, include_subdomains=False).is_own_domain("lab1.example.ac.jp")
