"""Excel exports (issue 13): one generic writer (`workbook.py`) and what each export holds."""
