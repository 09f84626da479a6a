"""Registry CSV: every rejection names its line, and an import is all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli import main
from ivr.db import connect
from ivr.db.writer import Database
from ivr.supply import codes, registry, registry_csv

C1, C2, C3 = codes.make_code(10001), codes.make_code(10002), codes.make_code(10003)
HEADER = "code,name,location,sector,supplier,brands\n"


def _wrong(code: str) -> str:
    return code[:-1] + str((int(code[-1]) + 1) % 10)


def _problems(data: bytes) -> list[str]:
    with pytest.raises(registry_csv.CsvImportError) as info:
        registry_csv.parse(data)
    return info.value.problems


def test_parse_reads_rows_with_bom_and_brands() -> None:
    rows = registry_csv.parse(("\ufeff" + HEADER + f"{C1},Factory A,Mae Sot,garments,Thread Co,Acme; Bolt\n"
                               ",New place,,,Thread Co,\n").encode())
    assert [(r.line, r.workplace.code, r.workplace.brands) for r in rows] == [
        (2, C1, ("Acme", "Bolt")), (3, "", ())]


@pytest.mark.parametrize(("data", "expected"), [
    ((HEADER + f"{C1},A,,,S,\n{C2},B,,,S,\n{C1},C,,,S,\n").encode(),
     f"line 4: duplicate code {C1} (also on line 2)"),
    ((HEADER + f"{_wrong(C1)},A,,,S,\n").encode(), "line 2: workplace code"),
    ((HEADER + "12345,A,,,S,\n").encode(), "line 2: workplace code '12345' must be 6 digits, not 5"),
    ((HEADER + f"{C1},A,,,S\n").encode(), "line 2: 5 fields, but the header has 6"),
    ((HEADER + f"{C1},,,,S,\n").encode(), "line 2: the workplace name is empty"),
    (b"code,name,location\n", "line 1: missing column supplier"),
    (b"code,name,suplier\n", "line 1: missing column supplier; unknown column 'suplier'"),
    (b"", "line 1: the file is empty"),
    ((HEADER + f"{C1},A,,,S,\n").encode() + f"{C2},Caf\xe9,,,S,\n".encode("latin-1"),
     "line 3: the file is not UTF-8 text (byte 0xe9)"),
])
def test_parse_rejections_name_the_line(data: bytes, expected: str) -> None:
    problems = _problems(data)
    assert any(p.startswith(expected) for p in problems), problems


def test_wrong_check_digit_says_so() -> None:
    assert "check digit" in _problems((HEADER + f"{_wrong(C1)},A,,,S,\n").encode())[0]


@pytest.fixture
def runner_env(tmp_path: Path) -> dict[str, str]:
    return {"IVR_DATA_DIR": str(tmp_path / "var"), "IVR_SECRET_KEY": "x" * 20}


def _run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["workplaces", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_cli_import_is_all_or_nothing_and_round_trips(tmp_path: Path, runner_env: dict[str, str]) -> None:
    assert _run(runner_env, "supplier", "add", "Thread Co", "--country", "TH")[0] == 0
    bad = tmp_path / "bad.csv"
    # Line 2 is fine; line 3 names an unknown supplier: nothing at all may be imported.
    bad.write_text(HEADER + f"{C1},Factory A,Mae Sot,garments,Thread Co,Acme\n{C2},Factory B,,,Nobody Ltd,\n")
    code, out, err = _run(runner_env, "import", str(bad))
    assert code == 1
    assert "bad.csv: line 3: unknown supplier 'Nobody Ltd'" in err
    assert "nothing changed" in err
    db = connect(Path(runner_env["IVR_DATA_DIR"]) / "ivr.db")
    assert db.execute("select count(*) from workplaces").fetchone()[0] == 0
    assert db.execute("select count(*) from brands").fetchone()[0] == 0

    good = tmp_path / "good.csv"
    good.write_text(HEADER + f"{C1},Factory A,Mae Sot,garments,Thread Co,Acme;Bolt\n"
                    ",=HYPERLINK(\"x\"),,,Thread Co,\n")
    code, out, err = _run(runner_env, "import", str(good))
    assert (code, out.strip()) == (0, "2 added, 0 updated, 0 case(s) linked"), err

    code, exported, _ = _run(runner_env, "export")
    assert code == 0
    lines = exported.splitlines()
    assert lines[2] == f"{C1},Factory A,Mae Sot,garments,Thread Co,Acme;Bolt"
    # The formula-looking name is exported as text and comes back unchanged.
    assert lines[1].startswith(f"{codes.make_code(codes.FIRST_NUMBER)},\"'=HYPERLINK(\"\"x\"\")\"")
    again = tmp_path / "again.csv"
    again.write_text(exported.replace("Mae Sot", "Tak"))
    code, out, _ = _run(runner_env, "import", str(again))
    assert out.strip() == "0 added, 2 updated, 0 case(s) linked"
    assert db.execute("select location from workplaces where code = ?", [C1]).fetchone()[0] == "Tak"
    assert db.execute("select name from workplaces where code = ?",
                      [codes.make_code(codes.FIRST_NUMBER)]).fetchone()[0] == '=HYPERLINK("x")'

    code, out, _ = _run(runner_env, "add", "--name", "Boat 7", "--supplier", "Thread Co", "--brand", "Acme")
    assert code == 0 and codes.is_valid(out.strip())
    code, _, err = _run(runner_env, "add", "--name", "X", "--code", _wrong(C3))
    assert code == 1 and "check digit" in err
    code, out, _ = _run(runner_env, "list")
    assert "Factory A  [Thread Co]  Acme, Bolt" in out
    db.conn.close()


def test_allocated_codes_skip_codes_named_later_in_the_file(tmp_path: Path, runner_env: dict[str, str]) -> None:
    first_free = codes.make_code(codes.FIRST_NUMBER)
    f = tmp_path / "w.csv"
    f.write_text(HEADER + ",Allocated,,,,\n" + f"{first_free},Named,,,,\n")
    code, out, err = _run(runner_env, "import", str(f))
    assert (code, out.strip()) == (0, "2 added, 0 updated, 0 case(s) linked"), err
    db = connect(Path(runner_env["IVR_DATA_DIR"]) / "ivr.db")
    names = dict(db.execute("select name, code from workplaces").fetchall())
    db.conn.close()
    assert names == {"Named": first_free, "Allocated": codes.make_code(codes.FIRST_NUMBER + 1)}


def test_every_problem_is_reported_by_line_parse_and_suppliers_together(
        tmp_path: Path, runner_env: dict[str, str]) -> None:
    assert _run(runner_env, "supplier", "add", "Thread Co", "--country", "TH")[0] == 0
    bad = tmp_path / "bad.csv"
    body = "".join(f"{codes.make_code(20000 + i)},Factory {i},,,Nobody Ltd,\n" for i in range(25))
    bad.write_text(HEADER + "12345,A,,,Thread Co,\n" + body + f"{C1},,,,Thread Co,\n")
    code, _, err = _run(runner_env, "import", str(bad))
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[0] == "bad.csv: line 2: workplace code '12345' must be 6 digits, not 5"
    assert [f"bad.csv: line {n}: unknown supplier 'Nobody Ltd' (add it with `ivr workplaces supplier add`)"
            for n in range(3, 28)] == lines[1:26]  # all 25, not the first 20
    assert lines[26] == "bad.csv: line 28: the workplace name is empty"
    assert lines[27] == "Error: bad.csv was not imported; nothing changed"


def test_nul_bytes_are_refused() -> None:
    data = (HEADER + f"{C1},Fact\x00ory,,,S,\n{C2},B,,,S,\n{C3},C\x00,,,S,\n").encode()
    assert _problems(data) == ["line 2: contains a NUL byte (not a text CSV file)",
                               "line 4: contains a NUL byte (not a text CSV file)"]


class CountingDatabase(Database):
    rows_per_write: list[int]

    def submit_write(self, fn):  # type: ignore[no-untyped-def]
        def counted(db):  # type: ignore[no-untyped-def]
            before = db.execute("select count(*) from workplaces").fetchone()[0]
            result = fn(db)
            self.rows_per_write.append(db.execute("select count(*) from workplaces").fetchone()[0] - before)
            return result
        return super().submit_write(counted)


async def test_a_big_import_is_written_in_batches_that_let_other_writes_through(tmp_path: Path) -> None:
    database = CountingDatabase(tmp_path / "ivr.db")
    database.rows_per_write = []
    try:
        await database.write(lambda db: registry.add_supplier(db, "Thread Co", "TH"))
        rows = registry_csv.parse((HEADER + ",Factory,,,Thread Co,\n" * 1200).encode())
        result = await registry_csv.import_rows(database, rows)
        assert (result.added, result.updated) == (1200, 0)
        # Three writer transactions (500 + 500 + 200), so a call's write waits for one batch at most.
        assert database.rows_per_write[1:] == [500, 500, 200]
    finally:
        database.close()
