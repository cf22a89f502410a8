"""Code shared by the prompt-catalog and LLM-gateway functions.

The stack copies this folder next to each function's own modules, so inside Lambda it is the top-level
package ``common``; it must therefore import only the standard library, boto3 and itself.
"""
