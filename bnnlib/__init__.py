"""bnnlib"""
