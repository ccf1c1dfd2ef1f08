"""The provenance keys of every output's ``attrs``, spelled the same everywhere."""

from ._random import RngLike, seed_attr
from ._version import __version__

__all__ = ["provenance_attrs"]

_NO_RANDOM_STEP = object()


def provenance_attrs(
    rng: RngLike | object = _NO_RANDOM_STEP, *, root_seed: int | None = None, model_id: str | None = None
) -> dict[str, str | int]:
    """The attrs that say which code, seed and model made an output.

    Parameters
    ----------
    rng
        The ``rng`` argument of the random step that made the output, as the user gave it;
        leave it out for an output of no random step.
    root_seed
        The non-negative int the per-item generators were derived from
        (:func:`~matdyn_nb._random.root_seed`), for outputs that derive them.
    model_id
        The id of the generative model the output comes from.

    Returns
    -------
    dict
        ``matdyn_nb_version`` always; ``seed`` (the int seed as given, -1 for a Generator
        or None) when ``rng`` is given; ``root_seed`` and ``model_id`` when given.

    Examples
    --------
    >>> from matdyn_nb._provenance import provenance_attrs
    >>> provenance_attrs(3, root_seed=3, model_id="abc")  # doctest: +ELLIPSIS
    {'matdyn_nb_version': '...', 'seed': 3, 'root_seed': 3, 'model_id': 'abc'}
    """
    attrs: dict[str, str | int] = {"matdyn_nb_version": __version__}
    if rng is not _NO_RANDOM_STEP:
        attrs["seed"] = seed_attr(rng)
    if root_seed is not None:
        attrs["root_seed"] = int(root_seed)
    if model_id is not None:
        attrs["model_id"] = str(model_id)
    return attrs
