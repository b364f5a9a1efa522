# ruff: noqa: RUF001  (Chinese text uses full-width punctuation)
"""The 对账凭证 of one statement as a PDF, in Chinese with reportlab's built-in CJK CID font
(STSong-Light: the viewer supplies the glyphs, so no system font is needed or embedded).

It says which log position it was made at, so whoever holds it can read the same statement
again (`statement(id, position: ...)`)."""

from datetime import datetime
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from domain.money import format_money
from domain.movements import BUCKETS, CATEGORY_LABELS, StatementLine, closing_of

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

BUCKET_NAMES = {
    "frozen": "冻结",
    "unfreezing": "解冻审核中",
    "available": "可提现",
    "withdrawing": "提现中",
    "debt": "欠款",
    "deposit": "预存款",
}
STATUS_NAMES = {"DRAFT": "待审核", "APPROVED": "已审核", "REJECTED": "已驳回", "VOIDED": "已作废"}
TITLE = ParagraphStyle("title", fontName=FONT, fontSize=16, leading=22, spaceAfter=4)
BODY = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=14)
HEAD = ParagraphStyle("head", fontName=FONT, fontSize=11, leading=16, spaceBefore=6)


def _table(rows: list[list[str]], widths: list[float]) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), FONT, 9),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7")),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
            ]
        )
    )
    return table


def _e(value: object) -> str:
    """A value as Paragraph text: reportlab reads Paragraph text as markup, so a '<' in an agent
    code or an actor's name would break the page, fetch an <img> URL or plant a link."""
    return escape(str(value))


def render(statement: dict[str, Any], position: int, recorded_at: datetime | None) -> bytes:
    """The statement row (projections/statement_queries.py) read at `position`."""
    lines = [StatementLine.of(r) for r in statement["lines"]]
    opening, closing = statement["opening"], statement["closing"]
    assert closing_of(opening, lines) == {b: closing[b] for b in BUCKETS}  # it adds up
    buffer = BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=16 * mm, rightMargin=16 * mm, topMargin=14 * mm,
        title=f"对账凭证 {statement['agent_code']} {statement['cycle']}",
    )  # fmt: skip
    kind = "补充对账单" if statement["supplementary"] else "对账单"
    at = recorded_at.isoformat() if recorded_at else "-"
    story: list[Any] = [
        Paragraph("佣金结算对账凭证", TITLE),
        Paragraph(f"代理商: {_e(statement['agent_code'])}　结算周期: {_e(statement['cycle'])}（{kind}）", BODY),
        Paragraph(
            f"状态: {_e(STATUS_NAMES.get(statement['status'], statement['status']))}　"
            f"对账单编号: {_e(statement['id'])}", BODY,
        ),
        Paragraph(
            f"周期: {statement['starts_at'].isoformat()} 至 {statement['ends_at'].isoformat()}", BODY
        ),
        Paragraph(f"生成于日志位置 {_e(statement['through'])}，由 {_e(statement['generated_by'])} 生成", BODY),
        Paragraph(f"本凭证生成于日志位置 {position}（记录时间 {_e(at)}）", BODY),
        Spacer(1, 4 * mm),
        Paragraph("余额（元）", HEAD),
    ]  # fmt: skip
    rows = [["账户", "期初余额", "本期变动", "期末余额"]]
    for b in BUCKETS:
        moved = closing[b] - opening[b]
        rows.append([BUCKET_NAMES[b], format_money(opening[b]), format_money(moved),
                     format_money(closing[b])])  # fmt: skip
    story.append(_table(rows, [40 * mm, 45 * mm, 45 * mm, 45 * mm]))
    story.append(Paragraph("本期汇总", HEAD))
    totals: dict[str, tuple[int, int]] = {}
    for line in lines:
        count, amount = totals.get(line.category, (0, 0))
        totals[line.category] = (count + line.count, amount + line.amount_fen)
    rows = [["项目", "笔数", "金额（元）"]]
    for category, (zh_en) in CATEGORY_LABELS.items():
        if category in totals:
            rows.append([zh_en[1], str(totals[category][0]), format_money(totals[category][1])])
    story.append(_table(rows, [70 * mm, 30 * mm, 50 * mm]))
    story.append(Paragraph("明细", HEAD))
    rows = [["变动类型", "补记", "笔数", "金额（元）"]]
    for line in lines:
        rows.append([line.movement, "是" if line.late else "", str(line.count),
                     format_money(line.amount_fen)])  # fmt: skip
    story.append(_table(rows, [70 * mm, 20 * mm, 25 * mm, 45 * mm]))
    story.append(Spacer(1, 4 * mm))
    story.append(Paragraph("校验: 期末余额 = 期初余额 + 本期变动（精确到分）", BODY))
    doc.build(story)
    return buffer.getvalue()
