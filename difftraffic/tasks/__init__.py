"""Traffic tasks (DiffEnvs on the simulator): the contract every traffic task offers the recorder and viewer
(``traffic.TrafficEnv``), the shared placement of driver groups (``placement``), chunked per-step random draws
(``draws``), the GI-PPO paper's pace-car task (``pacecar/``) and Flow's ring wave-attenuation task (``ringwave``)."""
