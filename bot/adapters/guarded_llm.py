"""The model behind its circuit breaker: every question goes through the breaker of its provider
and model (bot/adapters/guard.py), so while the model is down it gets one probe at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from bot.adapters.guard import Guard
from bot.adapters.llm import LLM, Meter, ModelAnswer, Question
from bot.core.operations.breaker import Dependency

T = TypeVar("T", bound=BaseModel)


class GuardedLLM:
    """An `LLM` whose every question goes through the breaker of the model it asks."""

    def __init__(self, inner: LLM, guard: Guard, dependency: Callable[[str], Dependency], default_model: str) -> None:
        self._inner = inner
        self._guard = guard
        self._dependency = dependency
        self._default_model = default_model

    async def ask(self, question: Question[T], *, meter: Meter) -> ModelAnswer[T]:
        async with self._guard.call(self._dependency(question.model or self._default_model)):
            return await self._inner.ask(question, meter=meter)
