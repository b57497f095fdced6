"""A package holding a task, for the ``package.module:function`` form."""
