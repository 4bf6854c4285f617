"""Line-at-a-time decoding: a bad byte costs its own line (or CSV record) and is named with its true offset."""

from mer_builder.textio import CsvRow, MalformedRecord, UndecodableLine, csv_rows, readable_lines, text_lines


def test_each_line_decodes_on_its_own_and_a_bad_one_names_its_file_offset(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntw\xffo\r\nthree\n")
    lines = list(text_lines(path))
    assert lines[0] == (1, "one\r\n") and lines[2] == (3, "three\n")
    number, bad = lines[1]
    assert number == 2 and isinstance(bad, UndecodableLine)
    assert (bad.line, bad.offset) == (2, 10) and bad.text == "tw\ufffdo\r\n"
    assert bad.reason == "not valid UTF-8 (invalid start byte 0xff at byte 10 of the file)"
    seen = []
    assert list(readable_lines(path, seen.append)) == [(1, "one"), (3, "three")] and seen == [bad]


def test_a_csv_record_spanning_lines_is_one_problem_and_the_next_record_keeps_its_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b'id,text\n1,"first\nstill \xe9first"\n2,second\n3,"third, with a comma"\n')
    rows = list(csv_rows(path))
    assert rows[0] == CsvRow(1, ["id", "text"])
    assert isinstance(rows[1], UndecodableLine) and rows[1].line == 3 and rows[1].offset == 23
    assert rows[2:] == [CsvRow(4, ["2", "second"]), CsvRow(5, ["3", "third, with a comma"])]


def test_a_bad_byte_before_a_closing_quote_does_not_swallow_the_records_after_it(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b'a,b\n"x\xff",1\n"y",2\n')
    rows = list(csv_rows(path))
    assert [r.line for r in rows] == [1, 2, 3] and isinstance(rows[1], UndecodableLine)
    assert rows[2] == CsvRow(3, ["y", "2"])


def test_a_record_the_csv_module_refuses_is_one_problem_and_reading_goes_on(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1," + "x" * 200_000 + "\n2,ok\n", encoding="utf-8")
    rows = list(csv_rows(path))
    assert isinstance(rows[1], MalformedRecord) and rows[1].line == 2
    assert rows[1].describe("save it as UTF-8") == "not a CSV record (field larger than field limit (131072))"
    assert rows[2] == CsvRow(3, ["2", "ok"])
