"""The Simplified Chinese (zh-hans) translation: a complete catalogue, and pages that use it.

The catalogue is locale/zh_Hans/LC_MESSAGES/django.po (compiled to django.mo). Survey names and
citations stay as entered, so only UI strings are checked for English; country, medium and
element names come from their models' Chinese names, not from the catalogue.
"""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Survey

REPO = Path(__file__).resolve().parent.parent
PO = REPO / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
CJK = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]")
PAGES = ["/", "/surveys/", "/accounts/login/", "/accounts/register/"]


# --- the catalogue ---------------------------------------------------------------------------


def _unquote(line: str) -> str:
    text = line.strip()
    assert text.startswith('"') and text.endswith('"'), line
    return re.sub(
        r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text[1:-1]
    )


def parse_po(path: Path) -> list[dict]:
    """Entries of a .po file: msgid, msgid_plural, msgstr (a list), flags. Obsolete ones skipped."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        entry: dict = {"msgid": "", "msgid_plural": None, "msgstr": [], "flags": set()}
        key = None
        for line in block.splitlines():
            if line.startswith("#~"):
                key = None
                continue
            if line.startswith("#,"):
                entry["flags"] |= {f.strip() for f in line[2:].split(",")}
                continue
            if line.startswith("#") or not line.strip():
                continue
            match = re.match(r"^(msgid_plural|msgid|msgstr(?:\[\d+\])?) (\".*\")$", line)
            if match:
                key = match.group(1)
                value = _unquote(match.group(2))
                if key.startswith("msgstr"):
                    entry["msgstr"].append(value)
                else:
                    entry[key] = value
            elif line.startswith('"') and key:
                value = _unquote(line)
                if key.startswith("msgstr"):
                    entry["msgstr"][-1] += value
                else:
                    entry[key] += value
        if key is not None or entry["msgstr"]:
            entries.append(entry)
    return entries


def test_every_msgid_is_translated_and_none_is_fuzzy():
    entries = parse_po(PO)
    header, messages = entries[0], entries[1:]
    assert header["msgid"] == ""
    assert len(messages) > 250  # templates/, baselines/ and sharing/ at the time of writing
    untranslated = [e["msgid"] for e in messages if not all(s.strip() for s in e["msgstr"])]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert untranslated == []
    assert fuzzy == []
    # Chinese has one plural form.
    plurals = [e for e in messages if e["msgid_plural"]]
    assert plurals and all(len(e["msgstr"]) == 1 for e in plurals)


def test_header_names_the_language_and_its_plural_forms():
    header = parse_po(PO)[0]["msgstr"][0]
    assert "Language: zh_Hans\n" in header
    assert "Plural-Forms: nplurals=1; plural=0;\n" in header
    assert "Project-Id-Version: Chemical Earth\n" in header
    assert "Language-Team: Chinese (Simplified)\n" in header
    assert "charset=UTF-8" in header


def test_placeholders_and_html_tags_are_kept():
    placeholder = re.compile(r"%\(\w+\)[sd]")
    tag = re.compile(r"</?\w+[^>]*>")
    for entry in parse_po(PO)[1:]:
        for text in entry["msgstr"]:
            assert sorted(placeholder.findall(text)) == sorted(placeholder.findall(entry["msgid"]))
            assert sorted(tag.findall(text)) == sorted(tag.findall(entry["msgid"]))


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext's msgfmt is not installed")
def test_msgfmt_checks_formats_and_counts_nothing_untranslated_or_fuzzy():
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(PO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "translated message" in result.stderr
    assert "untranslated" not in result.stderr
    assert "fuzzy" not in result.stderr


def test_compiled_catalogue_matches_the_po_file():
    """django.mo is what Django reads: it must hold every translation of django.po."""
    with MO.open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)
    for entry in parse_po(PO)[1:]:
        if entry["msgid_plural"]:
            got = catalog.ngettext(entry["msgid"], entry["msgid_plural"], 1)
        else:
            got = catalog.gettext(entry["msgid"])
        assert got == entry["msgstr"][0], f"django.mo is stale for {entry['msgid']!r}"


# --- pages -----------------------------------------------------------------------------------


@pytest.fixture
def survey(write_csv):
    path = write_csv([["sample_id", "longitude", "latitude", "Cu_ppm"], ["F-1", 25.0, 62.0, 12]])
    survey_ingest(
        path=path,
        options=IngestOptions(survey="Test survey", medium="topsoil", scale_km=10, country="FIN"),
    )
    return Survey.objects.get(name="Test survey")


def choose_chinese(client):
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"


# Chinese text each page must show (headings, navigation, labels, form fields).
CHINESE = {
    "/": [
        "<title>全球地球化学基准 · 化学地球</title>",
        "每种化学元素在地球上的分布与含量",
        "有公开数据的国家",
        "浏览调查项目",
    ],
    "/surveys/": [
        "<title>调查项目 · 化学地球</title>",
        "<h1>调查项目</h1>",
        "<th>采样介质</th>",
        "<th>采样尺度</th>",
        "<th>样品</th>",
    ],
    "/accounts/login/": [
        "<title>登录 · 化学地球</title>",
        "<h1>登录</h1>",
        "忘记密码？",
        "用户名",  # Django's own zh_Hans catalogue, for the login form
    ],
    "/accounts/register/": [
        "<title>注册 · 化学地球</title>",
        "<h1>注册</h1>",
        "创建账户",
        "电子邮箱",
    ],
}
# English UI strings that must not survive on a Chinese page (data such as survey names may).
ENGLISH_UI = [
    ">Surveys<",
    ">Sign in<",
    ">Register<",
    "Chemical Earth",
    "Where on Earth",
    "Boundaries:",
    "<th>Medium</th>",
    "<th>Samples</th>",
    "No account yet?",
    "Forgotten your password?",
    "Create account",
    "Username",
]


def assert_chinese(response, path):
    html = response.content.decode()
    assert response.status_code == 200, path
    assert '<html lang="zh-hans">' in html, path
    # Shared navigation and footer.
    assert '<a href="/surveys/">调查项目</a>' in html, path
    assert "化学地球依照各国的数据发布政策发布地球化学基准数据。" in html, path
    assert ">登录<" in html and ">注册<" in html, path
    for text in CHINESE[path]:
        assert text in html, (path, text)
    for text in ENGLISH_UI:
        assert text not in html, (path, text)


@pytest.mark.django_db
def test_chosen_language_is_remembered_and_pages_render_in_chinese(client, survey):
    choose_chinese(client)
    for path in PAGES:  # no Accept-Language: the cookie alone carries the choice
        assert_chinese(client.get(path), path)
    # Survey names stay as entered; media and countries have names of their own in Chinese.
    html = client.get("/surveys/").content.decode()
    assert ">Test survey</a>" in html
    assert "<td>表层土壤</td>" in html and "<td>芬兰</td>" in html
    assert "topsoil" not in html and "Finland" not in html


@pytest.mark.django_db
def test_survey_page_in_chinese_says_when_data_opens(client, survey):
    choose_chinese(client)
    html = client.get(f"/surveys/{survey.slug}/").content.decode()
    assert '<html lang="zh-hans">' in html
    for text in [
        "<dt>采样介质</dt>",
        "<dt>采样尺度</dt>",
        "<h2>数据开放情况</h2>",
        "尚未确定开放日期",
    ]:
        assert text in html, text
    for text in ["Medium", "Data availability", "not yet scheduled", "embargo"]:
        assert text not in html, text


@pytest.mark.django_db
def test_browser_asking_for_zh_cn_gets_simplified_chinese(client, survey):
    for path in PAGES:
        assert_chinese(client.get(path, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.5"), path)


@pytest.mark.django_db
def test_english_is_the_default_and_can_be_chosen_again(client, survey):
    def assert_english(response, path):
        html = response.content.decode()
        assert response.status_code == 200, path
        assert '<html lang="en">' in html, path
        assert '<a href="/surveys/">Surveys</a>' in html, path
        assert ">Sign in<" in html and ">Register<" in html, path
        # The only Chinese is the language menu's own name for Chinese.
        assert CJK.findall(html.replace(">简体中文</option>", "")) == [], path

    for path in PAGES:
        assert_english(client.get(path), path)
    choose_chinese(client)
    assert '<html lang="zh-hans">' in client.get("/").content.decode()
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/surveys/"})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    for path in PAGES:
        assert_english(client.get(path), path)
