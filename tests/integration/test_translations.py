"""The catalogue is complete: every message has a translation that is not fuzzy, so a change
that adds strings (and reruns makemessages) without translating them fails here. The check
is scripts/check-translations, loaded as a module, so CI and the script judge alike."""
import importlib.machinery
import importlib.util
from pathlib import Path

import pytest
from django.conf import settings

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check-translations"


def load_checker():
    loader = importlib.machinery.SourceFileLoader("check_translations", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


checker = load_checker()
CATALOGUES = sorted(p for base in settings.LOCALE_PATHS
                    for p in Path(base).glob("*/LC_MESSAGES/*.po"))


def catalogue(tmp_path, body):
    path = tmp_path / "django.po"
    path.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n'
                    '"Plural-Forms: nplurals=1; plural=0;\\n"\n\n' + body, encoding="utf-8")
    return path


def messages(path):
    return [message for _line, message in checker.problems(path)]


def test_it_has_the_chinese_catalogue():
    assert any(p.parts[-3] == "zh_Hans" for p in CATALOGUES), CATALOGUES


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: p.parts[-3])
def test_it_translates_every_message_and_leaves_none_fuzzy(path):
    assert checker.problems(path) == []
    assert checker.statistics(path) > 0


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: p.parts[-3])
def test_it_declares_one_plural_form_in_chinese(path):
    if path.parts[-3].startswith("zh"):
        header = checker.parse(path)[0]
        assert header.msgid == "" and "nplurals=1; plural=0;" in header.msgstr[0]


def test_it_finds_an_untranslated_message(tmp_path):
    path = catalogue(tmp_path, 'msgid "todo items"\nmsgstr ""\n\n'
                               'msgid "done"\nmsgstr "已办"\n')
    assert messages(path) == ["untranslated: 'todo items'"]


def test_it_finds_a_message_split_over_lines_and_left_blank(tmp_path):
    path = catalogue(tmp_path, 'msgid ""\n"a long "\n"message"\nmsgstr ""\n""\n')
    assert messages(path) == ["untranslated: 'a long message'"]


def test_it_finds_fuzzy_messages_and_a_fuzzy_header(tmp_path):
    path = catalogue(tmp_path, '#: x.py:1\n#, fuzzy, python-format\n#| msgid "%s item"\n'
                               'msgid "%s items"\nmsgstr "%s 项"\n')
    assert messages(path) == ["fuzzy: '%s items'"]
    path.write_text("#, fuzzy\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert "the header is marked fuzzy" in messages(path)


def test_it_finds_a_missing_plural_form_and_an_extra_one(tmp_path):
    path = catalogue(tmp_path, '#, python-format\nmsgid "%(count)d item"\n'
                               'msgid_plural "%(count)d items"\nmsgstr[0] ""\n')
    assert messages(path) == ["untranslated plural form msgstr[0]: '%(count)d item'"]
    path = catalogue(tmp_path, '#, python-format\nmsgid "%(count)d item"\n'
                               'msgid_plural "%(count)d items"\nmsgstr[0] "%(count)d 项"\n'
                               'msgstr[1] "%(count)d 项"\n')
    assert messages(path) == ["msgstr[1] beyond nplurals=1: '%(count)d item'"]


def test_it_finds_a_dropped_or_renamed_placeholder(tmp_path):
    path = catalogue(tmp_path, '#, python-format\nmsgid "Unknown persons: %s."\n'
                               'msgstr "未知人员。"\n\n'
                               '#, python-format\nmsgid "No source “%(slug)s”."\n'
                               'msgstr "回调来源“%(name)s”不存在。"\n\n'
                               '#, python-brace-format\nmsgid "Hello {name}"\n'
                               'msgstr "你好 {name}"\n')
    assert messages(path) == [
        "placeholders [] instead of ['%s']: 'Unknown persons: %s.'",
        "placeholders ['%(name)s'] instead of ['%(slug)s']: 'No source “%(slug)s”.'",
    ]


def test_it_ignores_obsolete_entries(tmp_path):
    path = catalogue(tmp_path, 'msgid "kept"\nmsgstr "保留"\n\n#~ msgid "gone"\n#~ msgstr ""\n')
    assert messages(path) == []
