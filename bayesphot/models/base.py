"""The Model base class: parameters, window, target and the rendering pipeline.

``bp.Model(name, model_type, target=..., window=..., **values)`` builds the
registered class for ``model_type``.  A component model declares its
parameters (:class:`ParameterSpec`) and implements ``brightness`` (a pure
array-API function of its parameters); the base class integrates it over
pixels, convolves with the target's PSF on an oversampled, padded grid and
crops to the window.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from .. import backend
from ..backend import Array
from ..errors import ModelError, ParameterError
from ..image.target import TargetImage
from ..image.window import Window
from ..params import Parameter
from ..render import DEFAULT_QUADRATURE, PixelGrid, QuadratureConfig, bin_pixels, convolve
from .model_image import ModelImage
from .registry import model_class


@dataclass(frozen=True)
class ParameterSpec:
    """Declaration of one parameter of a model type (names are API)."""

    name: str
    units: str
    limits: tuple[float | None, float | None] = (None, None)
    cyclic: bool = False
    description: str = ""
    strict_lower: bool = False

    def build(self, value: Any = None) -> Parameter:
        return Parameter(self.name, value, units=self.units, limits=self.limits, cyclic=self.cyclic,
                         description=self.description, strict_lower=self.strict_lower)


#: automatic quadrature choices, by model type, PSF use, pixel step, extra state and rounded values
_AUTO_CHOICES: dict[tuple, QuadratureConfig] = {}


@contextlib.contextmanager
def choice_backend() -> Iterator[None]:
    """Where quadrature rules are chosen: eager torch on the CPU in float64 (no per-shape compilation
    for the many small probe renders), or the current backend when torch is missing."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(backend.using("torch", device="cpu", dtype="float64"))
        except Exception:  # torch missing: probe on the current backend
            pass
        yield


def pixel_grid(window: Window, pixelscale: float, oversampling: int = 1) -> PixelGrid:
    """Grid of (sub)pixel centres covering ``window`` (pixel (i, j) centred at x = j·s, y = i·s)."""
    step = pixelscale / oversampling
    x0 = (window.xmin - 0.5) * pixelscale + step / 2.0
    y0 = (window.ymin - 0.5) * pixelscale + step / 2.0
    rows, cols = window.shape
    return PixelGrid(x0, y0, step, (rows * oversampling, cols * oversampling))


class Model:
    """A model of (part of) an image.

    Parameters
    ----------
    name : str
        Unique within its group; parameters are addressed ``"name:param"``.
    model_type : str
        A registered type, e.g. ``"sersic galaxy model"``, ``"flat sky model"``, ``"group"``.
    target : TargetImage, optional
        The image the model describes (inherited from a group when omitted).
    window : ``[[xmin, xmax], [ymin, ymax]]`` or Window, optional
        Pixels where the model is rendered and fitted (default: whole image).
        A list given while no target is known is read in arcsec (outer pixel
        edges) and converted to pixels when the model gets its target; a
        :class:`~bayesphot.image.Window` is always in pixels.
    mask : 2-D bool array, optional
        Window-shaped mask (True = ignore) added to the target's mask.
    psf_convolve : bool, optional
        Convolve with the target's PSF (default: True for sources, False for sky).
    priors : dict, optional
        ``{"param": prior}`` (each a :class:`~bayesphot.priors.Prior`); a
        prior's support binds the parameter (see :class:`~bayesphot.params.Parameter`).
    quadrature : QuadratureConfig or "auto", optional
        How pixels are integrated (see :attr:`quadrature`; saved with the model); default
        ``"auto"``: the cheapest rule within 5e-5 of the peak for the current values (so two
        models with different values may use different rules; give a ``QuadratureConfig`` to fix one).
    **values
        Initial parameter values (``n=2.0``), full states
        (``n={"value": 2.0, "fixed": True}``), or another model's Parameter
        to tie to it (``x=bulge["x"]``: one shared fit element).
    """

    model_type: ClassVar[str] = "model"
    parameter_specs: ClassVar[tuple[ParameterSpec, ...]] = ()
    default_psf_convolve: ClassVar[bool] = True
    #: True (set in the class's own body) when ``prepare``, ``brightness`` and ``profile_center`` read
    #: nothing but the parameter values: JAX renders then share one trace per class, rule and grid
    #: shape (:mod:`bayesphot.models.shared_render`)
    render_is_pure: ClassVar[bool] = False

    def __new__(cls, name: str | None = None, model_type: str | None = None, *args: Any, **kwargs: Any) -> Model:
        if cls is Model:
            if model_type is None:
                raise ModelError("bp.Model needs a model_type, e.g. 'sersic galaxy model'")
            cls = model_class(model_type)
        return super().__new__(cls)

    def __init__(
        self,
        name: str,
        model_type: str | None = None,
        *,
        target: TargetImage | None = None,
        window: Any = None,
        mask: Any = None,
        psf_convolve: bool | None = None,
        priors: Mapping[str, Any] | None = None,
        quadrature: QuadratureConfig | str = "auto",
        **values: Any,
    ) -> None:
        if model_type is not None and model_type != self.model_type:
            raise ModelError(f"{type(self).__name__} is a {self.model_type!r}, not {model_type!r}")
        if not isinstance(name, str) or not name or ":" in name:
            raise ModelError(f"model name must be a non-empty string without ':', got {name!r}")
        self.name = name
        self.psf_convolve = self.default_psf_convolve if psf_convolve is None else bool(psf_convolve)
        self.quadrature = quadrature  # validated by the setter (a QuadratureConfig or "auto")
        self._target: TargetImage | None = None
        self._window_spec: Window | None = None
        self._window_arcsec: np.ndarray | None = None
        if isinstance(window, Window) or (window is not None and target is not None):
            self._window_spec = Window.from_any(window)
        elif window is not None:
            self._window_arcsec = np.asarray(window, dtype=np.float64).reshape(2, 2)
        self._mask_spec = None if mask is None else np.asarray(mask, dtype=bool)
        self._own_parameters: dict[str, Parameter] = {spec.name: spec.build() for spec in self.parameter_specs}
        self._set_values(values)
        if priors is not None and not isinstance(priors, Mapping):
            raise ModelError(f"priors must be a mapping {{'param': Prior}}, got {type(priors).__name__}")
        for key, prior in (priors or {}).items():
            self[key].prior = prior
        if target is not None:
            self.target = target

    # --------------------------------------------------------------- values
    def _set_values(self, values: Mapping[str, Any]) -> None:
        for key, val in values.items():
            if key not in self._own_parameters:
                known = ", ".join(self._own_parameters) or "none"
                raise ModelError(f"{self.model_type} {self.name!r} has no parameter {key!r} (has: {known})")
            param = self._own_parameters[key]
            if isinstance(val, Parameter):
                param.tie(val)
            elif isinstance(val, Mapping):
                state = dict(val)
                if "limits" in state:
                    param.limits = tuple(state.pop("limits"))
                for attr in ("fixed", "cyclic", "units", "prior"):
                    if attr in state:
                        setattr(param, attr, state.pop(attr))
                if "value" in state:
                    param.set_value(state.pop("value"), user=True)
                if "uncertainty" in state:
                    param.uncertainty = state.pop("uncertainty")
                if state:
                    raise ModelError(f"{self.name}:{key}: unknown parameter settings {sorted(state)}")
            else:
                param.set_value(val, user=True)

    @property
    def parameters(self) -> Mapping[str, Parameter]:
        """Parameters by name (local names here; ``"child:param"`` in a group), read-only.

        To make two models share a parameter, tie one to the other
        (``disk["x"].tie(bulge["x"])``) rather than inserting the same object twice.
        """
        return MappingProxyType(self._own_parameters)

    def __getitem__(self, key: str) -> Parameter:
        params = self.parameters
        if key in params:
            return params[key]
        raise ModelError(f"{self.name!r} has no parameter {key!r}; it has {', '.join(params) or 'none'}")

    def __contains__(self, key: str) -> bool:
        return key in self.parameters

    # -------------------------------------------------------- target/window
    @property
    def target(self) -> TargetImage:
        if self._target is None:
            raise ModelError(f"model {self.name!r} has no target image")
        return self._target

    @target.setter
    def target(self, target: TargetImage) -> None:
        if not isinstance(target, TargetImage):
            raise ModelError(f"target must be a TargetImage, got {type(target).__name__}")
        self._target = target
        if self._window_arcsec is not None:
            self._window_spec = Window.from_arcsec(self._window_arcsec.tolist(), target.pixelscale)
            self._window_arcsec = None
        if self._window_spec is not None:
            self._window_spec.check_inside(target.shape)
        if self._mask_spec is not None and self._mask_spec.shape != self.window.shape:
            raise ModelError(
                f"mask of {self.name!r} has shape {self._mask_spec.shape}, its window has {self.window.shape}"
            )

    @property
    def has_target(self) -> bool:
        return self._target is not None

    @property
    def window(self) -> Window:
        """Pixels where the model is rendered (the whole target unless given)."""
        if self._window_spec is not None:
            return self._window_spec
        return self.target.window

    @window.setter
    def window(self, window: Any) -> None:
        self._window_spec = Window.from_any(window)
        if self._target is not None:
            self._window_spec.check_inside(self._target.shape)

    @property
    def fit_mask(self) -> np.ndarray:
        """Window-shaped bool mask (True = excluded): target mask plus the model's own."""
        mask = self.target.mask[self.window.slices]
        if self._mask_spec is not None:
            mask = mask | self._mask_spec
        return mask

    # ----------------------------------------------------------- rendering
    def parameter_arrays(self, values: Mapping[str, Array] | None = None) -> dict[str, Array]:
        """Local parameter values as backend arrays; ``values`` overrides the stored ones."""
        be = backend.current()
        out: dict[str, Array] = {}
        for name, param in self._own_parameters.items():
            if values is not None and name in values:
                out[name] = values[name]
            elif param.value is None:
                raise ModelError(f"{self.name}:{name} has no value: call initialize() or set it")
            else:
                out[name] = be.asarray(param.value)
        return out

    @property
    def quadrature(self) -> QuadratureConfig:
        """The pixel quadrature used to render this model.

        A :class:`~bayesphot.render.QuadratureConfig` given by the user is used
        as is.  With ``"auto"`` (the default) the cheapest rule within 5e-5 of
        the peak pixel of a very fine rule is chosen for the current parameter
        values (:func:`~bayesphot.render.choose_quadrature`); the choice is kept
        for values that agree to two significant digits (the centre excepted),
        so a compiled function, which reads it once, keeps one rule throughout.
        """
        if isinstance(self._quadrature, QuadratureConfig):
            return self._quadrature
        return self._auto_quadrature()

    @property
    def auto_quadrature(self) -> bool:
        """True when the rule is chosen per parameter values (``quadrature="auto"``, the default)."""
        return not isinstance(self._quadrature, QuadratureConfig)

    @quadrature.setter
    def quadrature(self, value: QuadratureConfig | str) -> None:
        if not isinstance(value, QuadratureConfig) and not (isinstance(value, str) and value == "auto"):
            raise ModelError(f"quadrature must be a QuadratureConfig or 'auto', got {value!r}")
        self._quadrature = value

    def choice_step(self) -> float | None:
        """Grid step (arcsec) a profile of this model is integrated on, or None: no profile, or no values."""
        if type(self).render_grid is not Model.render_grid or type(self).sample_image is not Model.sample_image \
                or not self.has_target or any(param.value is None for param in self._own_parameters.values()):
            return None
        psf = self.target.psf if self.psf_convolve else None
        return self.target.pixelscale / (psf.oversampling if psf is not None else 1)

    def choice_profile(self) -> tuple[Callable[[Array, Array], Array], tuple[Array, Array], float] | None:
        """What the automatic rule is chosen from: (brightness, centre, grid step in arcsec), or None.

        None for models that do not integrate a profile over pixels, or that lack values.  Call it
        within :func:`choice_backend`: the brightness holds arrays of the backend it was made on.
        """
        step = self.choice_step()
        if step is None:
            return None
        p = self.prepare(self.parameter_arrays())
        return (lambda x, y: self.brightness(p, x, y)), self.profile_center(p), step

    def _auto_quadrature(self) -> QuadratureConfig:
        step = self.choice_step()
        if step is None:
            return DEFAULT_QUADRATURE  # no profile integrated over pixels, or no values yet
        key = (type(self), self.psf_convolve, step, repr(self.extra_state()),
               *((name, tuple(float(f"{v:.2g}") for v in np.ravel(param.value)))
                 for name, param in self._own_parameters.items() if name not in ("x", "y")))
        if key not in _AUTO_CHOICES:
            from ..render import choose_quadrature

            with choice_backend():
                brightness, center, _ = self.choice_profile()
                _AUTO_CHOICES[key] = choose_quadrature(brightness, center, step)
        return _AUTO_CHOICES[key]

    def brightness(self, p: Mapping[str, Array], x: Array, y: Array) -> Array:  # pragma: no cover
        """Surface brightness (flux/arcsec²) at sky points (x, y) in arcsec."""
        raise NotImplementedError

    def profile_center(self, p: Mapping[str, Array]) -> tuple[Array, Array]:
        """Where pixel integration is refined (the profile's centre)."""
        return p["x"], p["y"]

    def render_grid(self, p: Mapping[str, Array], grid: PixelGrid) -> Array:
        """Flux per (sub)pixel of this model on ``grid``, before any PSF."""
        from ..render import integrate_pixels
        from .shared_render import shared_render, shares_render

        if shares_render(type(self)) and all(backend.is_jax_array(v) for v in p.values()):
            return shared_render(self, p, grid)  # traced once per class, rule and grid shape
        p = self.prepare(p)
        return integrate_pixels(lambda x, y: self.brightness(p, x, y), grid, self.profile_center(p), self.quadrature)

    def prepare(self, p: Mapping[str, Array]) -> Mapping[str, Array]:
        """Quantities derived once per render from the parameters (default: none)."""
        return p

    def sample_image(self, values: Mapping[str, Array] | None = None) -> Array:
        """Model pixels on ``self.window`` as a backend array (pure in ``values``).

        Parameters
        ----------
        values : mapping, optional
            Parameter name → array, replacing the stored values (what fits
            and samplers vary); other parameters keep their stored values.
        """
        p = self.parameter_arrays(values)
        target = self.target
        psf = target.psf if self.psf_convolve else None
        if psf is None:
            return self.render_grid(p, pixel_grid(self.window, target.pixelscale))
        pad_rows, pad_cols = psf.half_size_pixels
        padded = self.window.pad((pad_cols, pad_rows))
        s = psf.oversampling
        image = self.render_grid(p, pixel_grid(padded, target.pixelscale, s))
        image = bin_pixels(convolve(image, psf.convolution_kernel), s)
        rows, cols = self.window.shape
        return image[pad_rows: pad_rows + rows, pad_cols: pad_cols + cols]

    def render(self) -> ModelImage:
        """The model with its current values as a target-shaped :class:`ModelImage`.

        Raises
        ------
        ModelError
            If the rendered pixels are not all finite (they never silently become NaN).
        """
        cutout = self._rendered_cutout()
        if not np.all(np.isfinite(cutout)):
            bad = int(np.sum(~np.isfinite(cutout)))
            values = ", ".join(f"{name}={p.value.tolist() if p.value is not None else None}"
                               for name, p in self.parameters.items())
            raise ModelError(f"model {self.name!r} renders {bad} non-finite pixel(s) with {values}")
        full = np.zeros(self.target.shape)
        full[self.window.slices] = cutout
        return ModelImage(full, self.window)

    def _rendered_cutout(self) -> np.ndarray:
        """``sample_image()`` as numpy; under JAX compiled once per structure (:func:`structure.run`)."""
        if backend.current().name != "jax":
            return backend.to_numpy(self.sample_image())
        from .. import structure

        return backend.to_numpy(structure.run(self.sample_image, self.parameter_arrays()))

    # ------------------------------------------------------ initialisation
    def initialize(self) -> None:
        """Set every unset parameter from the data in the window (never overwrites)."""

    def _initial(self, name: str, value: Any) -> None:
        """Set ``name`` to ``value`` only if the user (or a load) has not set it."""
        param = self._own_parameters[name]
        if param.value is None and not param.tied:
            try:
                param.value = param.clamp_initial(value)
            except ParameterError as exc:
                raise ModelError(f"{self.name}: cannot initialise {name}: {exc}") from exc

    def check_pixels(self) -> None:
        """Raise a :class:`ModelError` unless the model has an unmasked pixel in its window."""
        if not (~self.fit_mask).any():
            raise ModelError(f"model {self.name!r} has no unmasked pixel in its window: nothing constrains it")

    # ------------------------------------------------------------ walking
    def walk(self) -> list[Model]:
        """This model and every model below it (itself for a component)."""
        return [self]

    def components(self) -> list[Model]:
        """Leaf models below (itself for a component)."""
        return [self]

    # --------------------------------------------------------- persistence
    def extra_state(self) -> dict[str, Any]:
        """Model-type specific state beyond parameters (e.g. spline knots)."""
        return {}

    def set_extra_state(self, state: Mapping[str, Any]) -> None:
        if state:
            raise ModelError(f"{self.model_type} takes no extra state, got {sorted(state)}")

    def to_dict(self) -> dict[str, Any]:
        """The whole state as plain data (see :mod:`bayesphot.models.serialize`)."""
        from .serialize import model_to_dict

        return model_to_dict(self)

    def save(self, path: str | Path) -> None:
        """Write the model's whole state to a YAML file."""
        from .serialize import save_model

        save_model(self, path)

    @staticmethod
    def load(path: str | Path, target: TargetImage | None = None) -> Model:
        """Rebuild a model saved with :meth:`save`, attached to ``target``."""
        from .serialize import load_model

        return load_model(path, target=target)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.model_type!r})"

    def tie(self, follower: str, source: str | Any, *sources: str, scale: float = 1.0, offset: float = 0.0) -> None:
        """Tie parameter ``follower`` to ``source`` (names within this model, e.g. ``"disk:x"``, ``"bulge:x"``).

        ``model.tie("disk:Re", "bulge:Re", scale=2.0)`` keeps a fixed ratio;
        ``model.tie("c:x", func, "a:x", "b:x")`` ties to a function of several
        parameters.  See :meth:`bayesphot.params.Parameter.tie`.
        """
        if isinstance(source, str):
            self[follower].tie(self[source], scale=scale, offset=offset)
        else:
            self[follower].tie(source, *(self[name] for name in sources), scale=scale, offset=offset)

    def set_window_arcsec(self, box: Any) -> None:
        """Set the window as an arcsec box ``[[x0, x1], [y0, y1]]`` (outer edges), kept until a target is known."""
        arr = np.asarray(box, dtype=np.float64).reshape(2, 2)
        if not np.all(np.isfinite(arr)):
            raise ModelError(f"{self.name}: arcsec window {box!r} is not finite")
        self._window_spec = None
        self._window_arcsec = arr
        if self._target is not None:
            self._window_spec = Window.from_arcsec(arr.tolist(), self._target.pixelscale)
            self._window_arcsec = None
            self._window_spec.check_inside(self._target.shape)

    def parameter_names(self) -> dict[int, str]:
        """``id(parameter)`` → its name in this model (how ties are shown and saved)."""
        return {id(param): name for name, param in self.parameters.items()}

    def describe(self, names: Mapping[int, str] | None = None) -> str:
        """Multi-line description; ``names`` names tie sources (default: this model's names)."""
        names = self.parameter_names() if names is None else names
        lines = [f"{self.name} ({self.model_type})"]
        lines += [f"  {param.describe(names)}" for param in self.parameters.values()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()
