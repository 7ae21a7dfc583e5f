"""Path parameters for the routes: ids in a URL, bounded like :data:`~coinpilot.api.strict_types.DbId`.

Apart from :mod:`coinpilot.api.strict_types` because they need FastAPI's ``Path``, and the strict
body types are also used off the web (``coinpilot backtest`` validates a bot file with them) where
loading FastAPI would only slow start-up.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from coinpilot.api.strict_types import MAX_ID

BotIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a bot id")]
TradeIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a trade id")]
