"""``ask``: a plain-language pricing question, answered from the catalog with every figure cited."""

from __future__ import annotations

import typer


def ask(
    question: str = typer.Argument(..., help="The question, in quotes."),
    as_json: bool = typer.Option(False, "--json", help="Print the structured answer as JSON."),
) -> None:
    """Answer a pricing question offline (or with the LLM set by PEPPERPY_LLM_*), citing catalog rows.

    Examples:

      pepperpy-cloud ask "cheapest GPU with at least 24 GB in a US region"

      pepperpy-cloud ask "compare t3.large, e2-standard-2 and D2s_v3 per month"

      pepperpy-cloud ask "what do 3 m5.large cost for a month, and with spot?" --json
    """
    from pepperpy.cloud.agent.agent import Agent
    from pepperpy.cloud.cli import output

    answer = Agent().ask(question)
    if as_json:
        output.emit_json(answer.model_dump(mode="json"))
        return
    from rich.table import Table

    con = output.console()
    con.print(answer.text, markup=False)
    if answer.table is not None and answer.table.rows:
        table = Table(title_justify="left")
        for column in answer.table.columns:
            table.add_column(column, justify="right" if column.startswith("$") else "left")
        for row in answer.table.rows:
            table.add_row(*row)
        con.print(table)
    if answer.citations:
        cited = Table(title="sources", title_justify="left")
        for column in ("provider", "sku", "region", "pricing model", "price", "unit", "as of", "source"):
            cited.add_column(column)
        for c in answer.citations:
            where = f"{c['region']}/{c['zone']}" if c.get("zone") else c["region"]
            cited.add_row(c["provider"], c["sku"], where, c["pricing_model"], f"${c['price']}", c["unit"],
                          c["as_of"], c["source"])
        con.print(cited)
    con.print(f"[dim]{answer.source}; tools: {', '.join(answer.tools_used) or 'none'}; "
              f"{answer.duration_ms:.0f} ms[/dim]")
