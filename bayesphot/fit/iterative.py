"""placeholder"""
class Iter:
    pass
