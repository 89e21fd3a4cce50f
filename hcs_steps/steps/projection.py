"""Z projections: ``max_projection`` and ``mean_projection`` in all six memory types.

Both return a ``[1, Y, X]`` stack. The maximum keeps the input dtype and agrees exactly with
numpy in every library; the mean is ``float32`` (numpy accumulates in ``float64`` then
rounds; the others accumulate in ``float32``), within a relative ``1e-5`` of numpy.
"""

from __future__ import annotations

from hcs_steps import memory as mem


@mem.numpy
def max_projection_numpy(stack):
    """Maximum intensity projection along Z (numpy reference).

    Parameters
    ----------
    stack : numpy.ndarray
        ``[Z, Y, X]`` stack, any real dtype.

    Returns
    -------
    numpy.ndarray
        ``[1, Y, X]``, same dtype as the input.

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.array([[[1, 5]], [[4, 2]]], dtype=np.uint16)
    >>> max_projection_numpy(stack)
    array([[[4, 5]]], dtype=uint16)
    """
    return stack.max(axis=0, keepdims=True)


@mem.cupy
def max_projection_cupy(stack):
    """Maximum intensity projection along Z (CuPy; equal to numpy).

    Examples
    --------
    >>> max_projection_cupy.input_memory_type.value
    'cupy'
    """
    return stack.max(axis=0, keepdims=True)


@mem.torch
def max_projection_torch(stack):
    """Maximum intensity projection along Z (PyTorch; equal to numpy).

    Examples
    --------
    >>> import numpy as np
    >>> max_projection_torch(np.array([[[1, 5]], [[4, 2]]], dtype=np.float32))
    tensor([[[4., 5.]]])
    """
    import torch

    # torch has no max reduction for uint16 on CPU; amax is exact after widening to int32.
    if stack.dtype == torch.uint16:
        return stack.to(torch.int32).amax(dim=0, keepdim=True).to(torch.uint16)
    return stack.amax(dim=0, keepdim=True)


@mem.tensorflow
def max_projection_tensorflow(stack):
    """Maximum intensity projection along Z (TensorFlow; equal to numpy).

    Examples
    --------
    >>> import numpy as np
    >>> max_projection_tensorflow(np.ones((3, 2, 2), np.float32)).shape
    TensorShape([1, 2, 2])
    """
    import tensorflow as tf

    return tf.reduce_max(stack, axis=0, keepdims=True)


@mem.jax
def max_projection_jax(stack):
    """Maximum intensity projection along Z (JAX; equal to numpy).

    Examples
    --------
    >>> import numpy as np
    >>> max_projection_jax(np.ones((3, 2, 2), np.float32)).shape
    (1, 2, 2)
    """
    return stack.max(axis=0, keepdims=True)


@mem.pyclesperanto
def max_projection_pyclesperanto(stack):
    """Maximum intensity projection along Z (pyclesperanto; equal to numpy).

    Examples
    --------
    >>> import numpy as np
    >>> max_projection_pyclesperanto(np.ones((3, 2, 2), np.float32)).shape
    (1, 2, 2)
    """
    import pyclesperanto as cle

    return cle.maximum_z_projection(stack, keep_dims=True)


@mem.numpy
def mean_projection_numpy(stack):
    """Mean intensity projection along Z (numpy reference).

    Parameters
    ----------
    stack : numpy.ndarray
        ``[Z, Y, X]`` stack, any real dtype.

    Returns
    -------
    numpy.ndarray
        ``[1, Y, X]`` ``float32``, accumulated in ``float64``.

    Examples
    --------
    >>> import numpy as np
    >>> mean_projection_numpy(np.array([[[1, 5]], [[4, 2]]], dtype=np.uint16))
    array([[[2.5, 3.5]]], dtype=float32)
    """
    import numpy as np

    return stack.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)


@mem.cupy
def mean_projection_cupy(stack):
    """Mean intensity projection along Z (CuPy, ``float32``; relative ``1e-5`` of numpy).

    Examples
    --------
    >>> mean_projection_cupy.output_memory_type.value
    'cupy'
    """
    import cupy as cp

    return stack.mean(axis=0, keepdims=True, dtype=cp.float32)


@mem.torch
def mean_projection_torch(stack):
    """Mean intensity projection along Z (PyTorch, ``float32``; relative ``1e-5`` of numpy).

    Examples
    --------
    >>> import numpy as np
    >>> mean_projection_torch(np.array([[[1, 5]], [[4, 2]]], dtype=np.uint16))
    tensor([[[2.5000, 3.5000]]])
    """
    import torch

    return stack.to(torch.float32).mean(dim=0, keepdim=True)


@mem.tensorflow
def mean_projection_tensorflow(stack):
    """Mean intensity projection along Z (TensorFlow, ``float32``; relative ``1e-5`` of numpy).

    Examples
    --------
    >>> import numpy as np
    >>> mean_projection_tensorflow(np.ones((3, 2, 2), np.uint16)).dtype.name
    'float32'
    """
    import tensorflow as tf

    return tf.reduce_mean(tf.cast(stack, tf.float32), axis=0, keepdims=True)


@mem.jax
def mean_projection_jax(stack):
    """Mean intensity projection along Z (JAX, ``float32``; relative ``1e-5`` of numpy).

    Examples
    --------
    >>> import numpy as np
    >>> mean_projection_jax(np.ones((3, 2, 2), np.uint16)).dtype.name
    'float32'
    """
    import jax.numpy as jnp

    return stack.astype(jnp.float32).mean(axis=0, keepdims=True)


@mem.pyclesperanto
def mean_projection_pyclesperanto(stack):
    """Mean intensity projection along Z (pyclesperanto, ``float32``; relative ``1e-5``).

    Examples
    --------
    >>> import numpy as np
    >>> mean_projection_pyclesperanto(np.ones((3, 2, 2), np.uint16)).dtype.name
    'float32'
    """
    import pyclesperanto as cle

    return cle.mean_z_projection(stack, keep_dims=True)
