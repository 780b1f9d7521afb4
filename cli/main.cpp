// placeholder until cli lands
int main() { return 0; }
