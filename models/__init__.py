"""aqmllm.models"""
