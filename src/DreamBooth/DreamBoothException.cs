namespace DreamBooth;

/// <summary>
/// The one documented error type for bad input (files, configs, flags). Its message is a single line that names the
/// culprit (file, tensor, key or flag) and says what is wrong; the CLI prints it as is and exits with code 2.
/// </summary>
public class DreamBoothException : Exception
{
    public DreamBoothException(string message) : base(message) { }
    public DreamBoothException(string message, Exception inner) : base(message, inner) { }
}
