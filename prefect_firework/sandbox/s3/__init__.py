"""The strict S3 front of the sandbox, over moto: what the upload URLs point at.

moto stores the objects but checks almost nothing of a browser-style upload; the front checks
what AWS checks (POST policies and their form fields, SigV4 presigned part URLs, expiry,
Content-Length, Content-MD5) and answers S3's XML errors, one class per error code. Multipart
parts live in a part store on disk and become the object at completion. Nothing here is public.
"""
