"""``load_users``: the whole batch is validated before the first chunk is written."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ormkit import ValidationError, async_session, count_users, sample_data
from ormkit.progress import chunked, load_users

N_USERS = len(sample_data.USERS)
# The bad row is in the last chunk of two: chunks of 2 would validate it as the chunk's users[1].
ROWS = [("Ada", 36), ("Linus", 28), ("Grace", 85), ("Bad", -1)]


async def test_load_users_adds_every_chunk(seeded: AsyncEngine) -> None:
    assert await load_users(ROWS[:3], chunk_size=2) == 3
    assert await count_users() == N_USERS + 3


async def test_a_bad_row_is_named_by_its_place_in_the_whole_batch(seeded: AsyncEngine) -> None:
    with pytest.raises(ValidationError, match=r"^users\[3\]\.age must be between 0 and 150"):
        await load_users(ROWS, chunk_size=2)
    assert await count_users() == N_USERS


async def test_a_bad_row_writes_nothing_into_the_callers_session(seeded: AsyncEngine) -> None:
    # The caller's transaction is the caller's: a rejected batch must not leave its first chunks
    # in it, to be committed by whatever the caller does next.
    async with async_session() as session:
        with pytest.raises(ValidationError, match=r"users\[3\]"):
            await load_users(ROWS, chunk_size=2, session=session)
        assert await count_users(session=session) == N_USERS


async def test_load_users_takes_any_iterable(seeded: AsyncEngine) -> None:
    assert await load_users(iter(ROWS[:3]), chunk_size=2) == 3  # type: ignore[arg-type]


def test_chunked() -> None:
    assert list(chunked([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    with pytest.raises(ValueError, match="at least 1"):
        list(chunked([1], 0))


def test_outside_a_kernel_the_bar_is_text_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    # With ipywidgets installed (jupyter-book and nbgrader bring it), tqdm's notebook widget
    # outside a Jupyter kernel prints its text form to stdout, into a script's or a test's output.
    pytest.importorskip("tqdm")
    from ormkit.progress import progress

    assert list(progress(range(3), total=3, desc="loading")) == [0, 1, 2]
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "loading: 100%" in captured.err


def test_in_a_jupyter_kernel_the_bar_is_the_widget(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tqdm")
    pytest.importorskip("ipywidgets")
    from ormkit import progress as module

    shell = SimpleNamespace(config={"IPKernelApp": {}})
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    tqdm = module._tqdm()
    assert tqdm is not None and tqdm.__module__ == "tqdm.notebook"
