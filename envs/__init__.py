"""Environments of the toolkit. Importing this package registers them as ``rlkit/<Name>-v0``.

Every env follows the gymnasium API and passes ``gymnasium.utils.env_checker.check_env``.
Meta-RL envs expose ``sample_tasks`` / ``set_task`` and a pure
``reward(obs, action, next_obs, task)``; goal envs expose ``compute_reward(achieved, desired)``.
"""

import os

from gymnasium.envs.registration import register, registry

# MuJoCo picks its OpenGL backend when it is first imported: default to EGL on headless machines so
# that image envs (LS3's reacher) render without a display. Set MUJOCO_GL yourself to override.
if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl"


def _register(name: str, entry_point: str, **kwargs) -> None:
    env_id = f"rlkit/{name}-v0"
    if env_id not in registry:
        register(id=env_id, entry_point=entry_point, **kwargs)


_register("PointGoal", "rlkit.envs.point_goal:PointGoalEnv", max_episode_steps=50)
_register("QP", "rlkit.envs.qp.env:QPEnv")
_register("MiniGrid", "rlkit.envs.minigrid:make_minigrid")
_register("OrderExecution", "rlkit.envs.order_execution:OrderExecutionEnv")
_register("Atari", "rlkit.envs.atari:make_atari")
_register("SparsePointRobot", "rlkit.envs.point_robot:SparsePointRobotEnv")
_register("SparseWheeled", "rlkit.envs.goal_tasks:SparseWheeledEnv")
_register("SparseAntGoal", "rlkit.envs.goal_tasks:SparseAntGoalEnv")
_register("PointMaze", "rlkit.envs.point_maze:PointMazeEnv")
_register("RoboticsMaze", "rlkit.envs.goal_robotics:RoboticsMazeEnv")
_register("SawyerPush", "rlkit.envs.goal_robotics:SawyerPushEnv")
_register("LS3Navigation", "rlkit.envs.ls3_navigation:NavigationEnv")
_register("LS3Reacher", "rlkit.envs.ls3_reacher:ReacherEnv")
_register("LS3Push", "rlkit.envs.ls3_push:PushEnv")
_register("SparseMetaWorld", "rlkit.envs.metaworld_tasks:SparseMetaWorldEnv")
