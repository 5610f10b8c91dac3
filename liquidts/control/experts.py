"""A scripted CarRacing driver and a wrapper that skips drawing frames nobody looks at.

CarRacing-v3 spends ~98% of a step drawing the track in Python; the dynamics and the
rewards never read the picture. :class:`FastCarRacing` therefore steps the Box2D world
without drawing and draws a frame only when one is asked for (every ``action_repeat``
steps with ``pixels=True``, never with ``pixels=False``). The frame it draws is the
environment's own ``state_pixels`` picture, so a policy trained on it drives the plain
``gymnasium.make("CarRacing-v3")`` too.

:class:`PurePursuitExpert` reads privileged state the pixel policy never sees: the
track's centre-line waypoints (``env.unwrapped.track``) and the car hull's position,
heading and velocity. It steers towards a point a speed-dependent distance ahead on the
centre line (pure pursuit) and picks a target speed from the sharpest bend in the next
stretch of road.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

__all__ = ["FastCarRacing", "PurePursuitExpert", "ExpertConfig", "run_expert", "distance_to_track"]


class FastCarRacing(gym.Wrapper):
    """CarRacing-v3 that draws only the frames it returns.

    Parameters
    ----------
    pixels : bool
        Return the 96x96x3 ``state_pixels`` frame (drawn once per :meth:`step`). With
        ``False`` the observation is ``None`` and a step costs ~0.2 ms instead of ~9 ms.
    action_repeat : int
        Environment steps per :meth:`step`; rewards are summed. Only the last step's
        frame is drawn, which is where the saving with ``pixels=True`` comes from.
    **kwargs
        Passed to ``gymnasium.make("CarRacing-v3", ...)``.
    """

    def __init__(self, pixels: bool = True, action_repeat: int = 1, **kwargs):
        if int(action_repeat) < 1:
            raise ValueError(f"action_repeat must be >= 1, got {action_repeat}")
        kwargs.setdefault("continuous", True)
        kwargs.setdefault("disable_env_checker", True)
        super().__init__(gym.make("CarRacing-v3", **kwargs))
        self.pixels = bool(pixels)
        self.action_repeat = int(action_repeat)
        car = self.env.unwrapped
        self._draw = car._render
        # The instance attribute shadows the class method: env.step() then "draws" nothing.
        car._render = lambda mode: None

    def _frame(self, time_penalty: float = 0.1):
        if not self.pixels:
            return None
        car = self.env.unwrapped
        # CarRacing draws its frame before charging the step's 0.1 time penalty, and the HUD
        # shows the score: undo the charge while drawing so the frame matches the plain env's.
        score = car.reward
        car.reward = score + time_penalty
        frame = self._draw("state_pixels")
        car.reward = score
        return frame

    def reset(self, **kwargs):
        _, info = self.env.reset(**kwargs)
        return self._frame(time_penalty=0.0), info

    def step(self, action):
        total = 0.0
        for _ in range(self.action_repeat):
            _, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return self._frame(), total, terminated, truncated, info


@dataclass
class ExpertConfig:
    """Gains of :class:`PurePursuitExpert`.

    Tuned by a render-free random search with ``action_repeat=2`` on tracks 1000..1015, which
    neither training nor evaluation uses.
    """

    lookahead_base: float = 3.8  # metres ahead at standstill
    lookahead_per_speed: float = 0.19  # extra metres per m/s
    steer_gain: float = 1.5  # steering command per radian of heading error
    horizon: int = 14  # waypoints (~3.5 m each) scanned for the sharpest bend
    v_max: float = 107.0  # target speed on straights, m/s
    v_min: float = 42.0
    bend_scale: float = 1.0  # radians of heading change that bring the target to v_min
    gas: float = 0.5
    brake: float = 0.55
    # None: full gas below the target speed, brake 5 m/s above it (what the gains were tuned
    # with). A number k: proportional law u = k * (target - speed) / 10 m/s, clipped to [-1, 1],
    # which gives a student a smooth longitudinal label instead of a bang-bang one.
    speed_gain: float | None = None


class PurePursuitExpert:
    """Pure-pursuit steering with curvature-based speed on CarRacing's waypoints.

    Call :meth:`act` with the (possibly wrapped) environment; it returns the continuous
    action ``[steer, gas, brake]``. The expert holds no state between calls, so it can
    label any state a student visits (DAgger).
    """

    def __init__(self, config: ExpertConfig | None = None):
        self.config = config if config is not None else ExpertConfig()
        self._track_id = None

    def _load_track(self, car_env):
        track = np.asarray(car_env.track, dtype=np.float64)  # (N, 4): alpha, beta, x, y
        self._xy = track[:, 2:4]  # (N, 2)
        seg = np.roll(self._xy, -1, axis=0) - self._xy  # (N, 2)
        heading = np.arctan2(seg[:, 1], seg[:, 0])  # (N,)
        turn = np.diff(np.concatenate([heading, heading[:1]]))
        self._turn = (turn + np.pi) % (2 * np.pi) - np.pi  # (N,) heading change per segment
        self._track_id = id(car_env.track)

    def act(self, env) -> np.ndarray:
        car_env = env.unwrapped
        if self._track_id != id(car_env.track):
            self._load_track(car_env)
        cfg = self.config
        hull = car_env.car.hull
        pos = np.array(hull.position, dtype=np.float64)
        a = float(hull.angle)
        forward = np.array([-math.sin(a), math.cos(a)])
        right = np.array([math.cos(a), math.sin(a)])
        speed = float(np.hypot(*hull.linearVelocity))

        n = len(self._xy)
        nearest = int(np.argmin(((self._xy - pos) ** 2).sum(1)))
        lookahead = cfg.lookahead_base + cfg.lookahead_per_speed * speed
        ahead = (nearest + np.arange(1, n // 2)) % n
        dist = np.linalg.norm(self._xy[ahead] - pos, axis=1)
        far = np.nonzero(dist >= lookahead)[0]
        target = self._xy[ahead[far[0]] if len(far) else ahead[-1]]
        d = target - pos
        alpha = math.atan2(float(d @ right), float(d @ forward))
        steer = float(np.clip(cfg.steer_gain * alpha, -1.0, 1.0))

        window = self._turn[(nearest + np.arange(cfg.horizon)) % n]
        bend = float(np.abs(np.cumsum(window)).max())
        frac = min(bend / cfg.bend_scale, 1.0)
        v_target = cfg.v_max - (cfg.v_max - cfg.v_min) * frac
        if cfg.speed_gain is not None:
            u = float(np.clip(cfg.speed_gain * (v_target - speed) / 10.0, -1.0, 1.0))
            gas, brake = max(u, 0.0) * cfg.gas, max(-u, 0.0) * cfg.brake
        elif speed < v_target:
            gas, brake = cfg.gas, 0.0
        elif speed > v_target + 5.0:
            gas, brake = 0.0, cfg.brake
        else:
            gas, brake = 0.0, 0.0
        return np.array([steer, gas, brake], dtype=np.float32)


def run_expert(seed: int, expert: PurePursuitExpert | None = None, action_repeat: int = 1,
               max_steps: int = 1000) -> float:
    """Return of one render-free episode of the expert on the track drawn by ``seed``."""
    expert = expert if expert is not None else PurePursuitExpert()
    env = FastCarRacing(pixels=False, action_repeat=action_repeat,
                        max_episode_steps=max_steps)
    env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        _, r, terminated, truncated, _ = env.step(expert.act(env))
        total += r
        done = terminated or truncated
    env.close()
    return total


def distance_to_track(env) -> float:
    """Metres from the car to the nearest centre-line waypoint (privileged; for ending lost episodes)."""
    car_env = env.unwrapped
    xy = np.asarray(car_env.track, dtype=np.float64)[:, 2:4]  # (N, 2)
    pos = np.array(car_env.car.hull.position, dtype=np.float64)
    return float(np.sqrt(((xy - pos) ** 2).sum(1).min()))
