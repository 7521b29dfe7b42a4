"""Hash kinds, hashing of media files, and the PDQ match index.

Media are read here to be hashed and nothing else: never stored, copied, shown or logged.
"""
