from .task_prompter_decoder import TaskPrompterDecoder

__all__ = ['TaskPrompterDecoder']
