public enum CompilerPlaceholder {}
