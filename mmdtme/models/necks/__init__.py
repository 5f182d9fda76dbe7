from .invpt_decoder import InvPTDecoder, JointTaskAttention, UPTransformerBlock
from .task_prompter_decoder import TaskPrompterDecoder

__all__ = ['InvPTDecoder', 'JointTaskAttention', 'TaskPrompterDecoder', 'UPTransformerBlock']
