"""aqmllm.sim"""
